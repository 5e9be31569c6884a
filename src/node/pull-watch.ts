/**
 * What a pull does while its download runs: report progress at the caller's
 * interval, give up when no chunk came for the stall timeout, look for more
 * peers every few seconds, and stop when the caller's signal fires.
 */
import { NoProvidersError } from '../errors.js'
import type { PullOptions, PullProgress } from './node-types.js'
import type { SwarmImage } from './swarm-image.js'

/** A terminal's progress bar redraws this often; machines may ask for less (PullOptions). */
const DEFAULT_PROGRESS_MS = 250
const CHECK_MS = 250
/** Dial newly known holders and neighbours this often while the download runs. */
const RECONNECT_MS = 2000

/** Watch `img`'s download until `run` settles (at once when there is no image: a cached copy). */
export async function watchPull (img: SwarmImage | undefined, run: Promise<void>, options: PullOptions, timeoutMs: number, reconnect: (img: SwarmImage) => void): Promise<void> {
  if (img == null) return await run
  const report = (phase: PullProgress['phase']): void => {
    options.onProgress?.({ cid: img.key, phase, ...img.progress(), chunkSize: img.manifest.chunkSize, size: img.manifest.size })
  }
  let lastReconnect = Date.now()
  let lastReport = 0
  const every = options.progressIntervalMs ?? DEFAULT_PROGRESS_MS
  const timer = setInterval(() => {
    const now = Date.now()
    if (now - lastReport >= every) { lastReport = now; report('download') }
    if (img.downloading && img.idleFor(now) > timeoutMs) {
      img.stopDownload(new NoProvidersError(`no peer sent a chunk of ${img.key} for ${Math.round(timeoutMs / 1000)} s (${img.links.size} peers connected); is a host holding it running and reachable?`))
    } else if (img.downloading && now - lastReconnect > RECONNECT_MS) {
      lastReconnect = now
      reconnect(img)
    }
  }, CHECK_MS)
  const onAbort = (): void => { img.stopDownload(options.signal?.reason instanceof Error ? options.signal.reason : new Error('pull aborted')) }
  options.signal?.addEventListener('abort', onAbort)
  try {
    await run
    report('done')
  } finally {
    clearInterval(timer)
    options.signal?.removeEventListener('abort', onAbort)
  }
}

/**
 * One `imgp2p pull`: a local copy when the image is cached here, a share in
 * a pull of the same image already running, or a download: the manifest,
 * then the links and the files side by side, then the swarm until the image
 * is complete on disk.
 */
import { existsSync } from 'node:fs'
import { dirname, join, resolve as resolvePath } from 'node:path'
import type { CID } from 'multiformats/cid'
import { bytesToWrite, checkRoom } from '../cache/disk-room.js'
import { checkOutputPath } from '../cache/output-file.js'
import type { ImageExporter, ImageStore, PartialImage } from '../cache/types.js'
import type { Manifest } from '../chunking/manifest.js'
import type { PullOptions, PullResult, PullTally } from './node-types.js'
import { watchPull } from './pull-watch.js'
import type { SwarmImage } from './swarm-image.js'

const DEFAULT_PULL_TIMEOUT_MS = 120_000

/** A pull under way: the download, and the partial image once it is open. */
export interface RunningPull { done: Promise<void>, partial: Promise<PartialImage> }

/** What a pull uses of its node. */
export interface PullContext {
  store: ImageStore & ImageExporter
  /** Pulls under way, by image: a second pull of one image shares the first. */
  pulls: Map<string, RunningPull>
  images: Map<string, SwarmImage>
  /** Gossip announcements received so far: a pull reports how many came while it ran. */
  announcementsReceived: () => number
  /** The manifest: from the cache, the prefetch, or the peers that announce the image. */
  manifest: (cid: CID, timeoutMs: number, options: PullOptions) => Promise<Manifest>
  /** A SwarmImage for an image not complete here. */
  createImage: (cid: CID, manifest: Manifest) => SwarmImage
  /** Open links to the peers that may hold the image. */
  connectCandidates: (img: SwarmImage) => void
  /** The image is complete and on disk. */
  onComplete: (key: string) => void
  log: (msg: string) => void
}

export async function pullImage (ctx: PullContext, cid: CID, options: PullOptions): Promise<PullResult> {
  const key = cid.toString()
  const out = options.out != null ? resolvePath(options.out) : undefined
  if (out != null) await checkOutputPath(out)
  const timeoutMs = options.timeoutMs ?? DEFAULT_PULL_TIMEOUT_MS
  const news0 = ctx.announcementsReceived()
  const news = (): number => ctx.announcementsReceived() - news0

  const cached = await ctx.store.completePath(cid)
  if (cached != null) {
    if (out == null) return { cid: key, path: cached, method: 'cached', bytesDownloaded: 0, announcementsReceived: news() }
    const manifest = await ctx.store.getManifest(cid)
    options.onProgress?.({ cid: key, phase: 'copy', have: 0, total: manifest?.chunks.length ?? 0, bytes: 0, peers: 0, chunkSize: manifest?.chunkSize ?? 0, size: manifest?.size ?? 0 })
    const r = await ctx.store.exportTo(cid, out, options.signal)
    return { cid: key, path: r.path, method: r.method, bytesDownloaded: 0, announcementsReceived: news() }
  }

  // Another pull of the same image is running: share it and add our output.
  const running = ctx.pulls.get(key)
  if (running != null) {
    const partial = await running.partial
    // The running pull may finish before our output is attached; then the
    // image is in the cache and a local copy serves.
    if (out != null) await partial.attachOutput(out).catch(() => {})
    await watch(ctx, key, running.done, options, timeoutMs)
    if (out != null && !existsSync(out)) await ctx.store.exportTo(cid, out, options.signal)
    return { cid: key, path: out ?? (await ctx.store.completePath(cid)) ?? '', method: 'download', bytesDownloaded: 0, announcementsReceived: news() }
  }

  let resolveRun!: () => void
  let rejectRun!: (err: Error) => void
  const run = new Promise<void>((resolve, reject) => { resolveRun = resolve; rejectRun = reject })
  let resolvePartial!: (p: PartialImage) => void
  const partialOpened = new Promise<PartialImage>((resolve, reject) => {
    resolvePartial = resolve
    run.catch(reject)
  })
  run.catch(() => {})
  partialOpened.catch(() => {})
  ctx.pulls.set(key, { done: run, partial: partialOpened })
  const t0 = Date.now()
  ctx.log(`pull ${key}: asked`)
  try {
    const manifest = await ctx.manifest(cid, timeoutMs, options)
    ctx.log(`pull ${key}: manifest after ${Date.now() - t0} ms`)
    // Links come up while the files open: with 16 hosts starting pulls on
    // two cores, opening them took 0.05-1.4 s, and the dials waited for it.
    const existing = ctx.images.get(key)
    const img = existing ?? ctx.createImage(cid, manifest)
    img.preparing = true
    ctx.connectCandidates(img)
    let partial: PartialImage | undefined
    try {
      const opened = await ctx.store.openPartial(cid, manifest)
      partial = opened
      // Side by side: each await at a pull's start waits its turn for a core when
      // 16 pulls start on two. A refusal discards the output attached meanwhile.
      const [room, attached] = await Promise.allSettled([
        checkRoom([
          { dir: join(ctx.store.dataDir, 'partial'), bytes: bytesToWrite(manifest, opened.have), what: 'the cache' },
          ...(out != null ? [{ dir: dirname(out), bytes: bytesToWrite(manifest), what: `--out ${out}` }] : [])
        ]),
        out != null ? opened.attachOutput(out) : undefined
      ])
      if (room.status === 'rejected') throw room.reason
      if (attached.status === 'rejected') throw attached.reason
    } catch (err) {
      await partial?.close().catch(() => {})
      img.preparing = false
      if (existing == null && ctx.images.get(key) === img) { img.close(); ctx.images.delete(key) }
      throw err
    }
    ctx.log(`pull ${key}: files ready after ${Date.now() - t0} ms, ${img.links.size} links`)
    const wire0 = img.downloadedBytes
    const done = img.startDownload(partial, options.onChunk)
    resolvePartial(partial)
    let fetched = 0
    done.then((bytes) => {
      fetched = bytes
      ctx.onComplete(key)
      ctx.log(`pull ${key}: complete and on disk after ${Date.now() - t0} ms`)
      resolveRun()
    }, rejectRun)
    await watch(ctx, key, run, options, timeoutMs)
    return { cid: key, path: out ?? (await ctx.store.completePath(cid)) ?? '', method: 'download', bytesDownloaded: fetched, bytesOnWire: img.downloadedBytes - wire0, announcementsReceived: news(), duplicateChunks: img.duplicates() }
  } catch (err) {
    rejectRun(err as Error)
    throw err
  } finally {
    ctx.pulls.delete(key)
  }
}

/** Progress, stall timeout, reconnects and the caller's signal until `run` settles (pull-watch.ts). */
async function watch (ctx: PullContext, key: string, run: Promise<void>, options: PullOptions, timeoutMs: number): Promise<void> {
  await watchPull(ctx.images.get(key), run, options, timeoutMs, (img) => { ctx.connectCandidates(img) })
}

/** Run a pull and count it, done or failed, for status and metrics. */
export async function tallied (tally: PullTally, run: () => Promise<PullResult>): Promise<PullResult> {
  const t0 = performance.now()
  try {
    const r = await run()
    tally.ok++
    tally.seconds += (performance.now() - t0) / 1000
    tally.bytesFetched += r.bytesDownloaded
    return r
  } catch (err) {
    tally.failed++
    throw err
  }
}

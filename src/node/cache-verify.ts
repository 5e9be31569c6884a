/**
 * `imgp2p verify` at the daemon: scrub each image (FsImageStore.verify), and
 * stop serving what a scrub sent back to partial. The store has already
 * stopped reading the damaged chunks; the image's swarm still believes it
 * seeds, and gossip still calls it complete, until told here.
 */
import type { ImageStore, VerifyResult } from '../cache/types.js'
import { parseCid } from '../chunking/cid.js'
import { listFew } from '../util/size.js'
import type { VerifyProgress, VerifyTally } from './node-types.js'

const PROGRESS_MS = 250

export interface CacheVerifyContext {
  store: ImageStore
  /** Counts every chunk checked and every one found damaged (status, metrics). */
  tally: VerifyTally
  /** Close the image's swarm; announce the change. */
  demoted: (key: string) => void
  /** Always-on log (the daemon's stderr). */
  notice: (msg: string) => void
}

export interface CacheVerifyOptions {
  signal?: AbortSignal
  onProgress?: (p: VerifyProgress) => void
}

/** Verify one image, or every image the cache knows, in turn. */
export async function verifyCache (ctx: CacheVerifyContext, cidText: string | undefined, options: CacheVerifyOptions = {}): Promise<VerifyResult[]> {
  const cids = cidText != null ? [parseCid(cidText)] : (await ctx.store.list()).map(i => parseCid(i.cid))
  const results: VerifyResult[] = []
  for (const cid of cids) {
    const key = cid.toString()
    // A report per chunk would be thousands of control messages for a large image.
    let last = 0
    const r = await ctx.store.verify(cid, {
      signal: options.signal,
      onProgress: (checked, total) => {
        const now = Date.now()
        if (now - last < PROGRESS_MS && checked < total) return
        last = now
        options.onProgress?.({ cid: key, checked, total })
      }
    })
    ctx.tally.chunks += r.checked
    ctx.tally.damaged += r.bad.length
    if (r.bad.length > 0) {
      const which = listFew(r.bad)
      const now = r.state === 'complete' ? 'the image is partial again and no longer served' : 'dropped from the partial image'
      ctx.notice(`verify: ${r.bad.length} chunk${r.bad.length === 1 ? '' : 's'} of ${key} no longer match their CIDs (${which}); ${now}`)
      if (r.state === 'complete') ctx.demoted(key)
    }
    results.push(r)
  }
  return results
}

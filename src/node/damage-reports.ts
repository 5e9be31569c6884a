/**
 * What a host does when a peer says a chunk it sent failed its CID (DAMAGED).
 *
 * A receiver drops a damaged chunk, and after a few drops the sender; the
 * sender used to hear nothing of it. A seed whose disk rotted went on
 * serving the damage to every host it traded with, and a front-end whose copy
 * of a chunk rotted left a deployment waiting for a chunk no one else held,
 * with nothing in the front-end's log to say why. Now the sender reads its
 * copy back. Damaged in a complete image: the whole image is scrubbed
 * (`imgp2p verify`), goes back to partial and is no longer served, and the
 * operator is told. Damaged in an image still being pulled: that chunk is
 * refused to peers from now on, and the image is verified when the pull
 * ends (the pull's --out got the bytes as they were verified on arrival, so
 * only the cache's copy is at fault). Sound: the fault was elsewhere (a
 * frame we relayed is dropped by the caller), and the operator is told.
 */
import { CID } from 'multiformats/cid'
import type { ImageStore, VerifyResult } from '../cache/types.js'
import { verifyChunk } from '../chunking/verify.js'

/** A chunk found sound is not read back again for a report within this long. */
const RECHECK_MS = 10 * 60_000
/** Bound on remembered checks; past it they are forgotten (each costs one chunk read when asked again). */
const MAX_REMEMBERED = 10_000

export interface DamageReportsContext {
  store: ImageStore
  /** Scrub one image and stop serving it if damaged (Imgp2pNode.verify). */
  verify: (key: string) => Promise<VerifyResult[]>
  /** Refuse chunk `index` of image `key` to every peer (SwarmImage.withheld). */
  withhold: (key: string, index: number) => void
  /** Always-on log (the daemon's stderr). */
  notice: (msg: string) => void
  now?: () => number
  /** Wait before asking again for a verify that found the image busy (default 500 ms). */
  retryMs?: number
}

export class DamageReports {
  private readonly checkedAt = new Map<string, number>()
  private readonly scrubbing = new Set<string>()
  /** Images pulled with a chunk found damaged on disk: verified when their pull ends. */
  private readonly afterPull = new Set<string>()

  constructor (private readonly ctx: DamageReportsContext) {}

  /** `peer` says chunk `index` of image `key`, as we sent it, failed its CID. */
  async report (key: string, index: number, peer: string): Promise<void> {
    const now = (this.ctx.now ?? Date.now)()
    const at = this.checkedAt.get(`${key}/${index}`)
    if (this.scrubbing.has(key) || (at != null && now - at < RECHECK_MS)) return
    if (this.checkedAt.size >= MAX_REMEMBERED) this.checkedAt.clear()
    this.checkedAt.set(`${key}/${index}`, now)
    const who = `peer ${peer.slice(-8)} says chunk ${index} of ${key} it got from here failed its CID`
    try {
      const cid = CID.parse(key)
      const manifest = await this.ctx.store.getManifest(cid)
      const bytes = await this.ctx.store.readChunk(cid, index)
      if (manifest == null || bytes == null) return // no longer held here
      if (await verifyChunk(manifest.chunks[index], bytes)) {
        this.ctx.notice(`${who}; it is sound on disk here`)
        return
      }
      if (await this.ctx.store.completePath(cid) == null) {
        this.ctx.withhold(key, index)
        this.afterPull.add(key)
        this.ctx.notice(`${who}, and it is damaged on disk here: no longer served; the image is verified when its pull ends`)
        return
      }
      this.ctx.notice(`${who}, and it is damaged on disk here: checking the whole image`)
      await this.scrub(key)
    } catch (err) {
      this.ctx.notice(`${who}; checking it failed: ${(err as Error).message}`)
    }
  }

  /** A pull of image `key` completed: verify it if a chunk was found damaged on disk meanwhile. */
  async pullEnded (key: string): Promise<void> {
    if (!this.afterPull.delete(key)) return
    await this.scrub(key).catch((err: Error) => { this.ctx.notice(`verifying ${key} after its pull failed: ${err.message}`) })
  }

  private async scrub (key: string): Promise<void> {
    this.scrubbing.add(key)
    try {
      // An operator's `imgp2p verify` of the image may be running ('busy'): let it
      // end, then check again, since it began before this chunk was found damaged.
      for (let attempt = 0; attempt < 10; attempt++) {
        const [r] = await this.ctx.verify(key)
        if (r?.state !== 'busy') return
        await new Promise(resolve => setTimeout(resolve, this.ctx.retryMs ?? 500))
      }
      this.ctx.notice(`${key} stayed busy for 5 s; run \`imgp2p verify ${key}\``)
    } finally {
      this.scrubbing.delete(key)
    }
  }
}

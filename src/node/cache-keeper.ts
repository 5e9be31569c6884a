/**
 * Holds a host's cache under `--cache-max`: after every pull and add, and
 * every few minutes, it removes the least recently used images that nothing
 * needs (cache/eviction.ts picks them), complete ones and the partial copies
 * of pulls given up on alike. What it never removes: images added on this
 * host (the front-end's sources), images being pulled or copied out, and
 * images used within the grace period, which the next hosts of a deployment
 * are still pulling from us.
 */
import { CID } from 'multiformats/cid'
import { pickEvictions, type CachedImage } from '../cache/eviction.js'
import type { ImageStore } from '../cache/types.js'
import { formatBytes } from '../util/size.js'

/** A deployment's hosts start within seconds; a later one within minutes. */
export const DEFAULT_CACHE_GRACE_MS = 10 * 60_000
const PASS_INTERVAL_MS = 5 * 60_000

export interface CacheKeeperOptions {
  store: ImageStore
  maxBytes: number
  /** Images that must stay whatever their age (added here, being pulled). */
  pinned: (cid: string) => boolean
  /** Chunk bytes served to peers so far from an image: when it grows, the image is in use. */
  served: (cid: string) => number
  remove: (cid: string) => Promise<void>
  log: (msg: string) => void
  graceMs?: number
  now?: () => number
}

export interface CacheUsage {
  bytes: number
  maxBytes: number
}

export class CacheKeeper {
  private readonly lastUsed = new Map<string, number>()
  private readonly servedSeen = new Map<string, number>()
  private readonly busy = new Map<string, number>()
  private running?: Promise<void>
  private again = false
  private timer?: NodeJS.Timeout
  private usedBytes = 0
  private readonly now: () => number

  constructor (private readonly opts: CacheKeeperOptions) {
    this.now = opts.now ?? Date.now
  }

  start (): void {
    this.timer = setInterval(() => { void this.enforce() }, PASS_INTERVAL_MS)
    this.timer.unref()
    void this.enforce()
  }

  stop (): void {
    clearInterval(this.timer)
  }

  usage (): CacheUsage {
    return { bytes: this.usedBytes, maxBytes: this.opts.maxBytes }
  }

  touch (cid: string): void {
    this.lastUsed.set(cid, this.now())
  }

  /** Run `fn` (a pull, a copy out) with `cid` pinned; then bring the cache back under its bound. */
  async using<T> (cid: string, fn: () => Promise<T>): Promise<T> {
    this.busy.set(cid, (this.busy.get(cid) ?? 0) + 1)
    try {
      return await fn()
    } finally {
      const n = (this.busy.get(cid) ?? 1) - 1
      if (n > 0) this.busy.set(cid, n); else this.busy.delete(cid)
      this.touch(cid)
      void this.enforce()
    }
  }

  /** One pass over the cache; calls while one runs ask for one more pass after it. */
  async enforce (): Promise<void> {
    if (this.running != null) { this.again = true; return await this.running }
    this.running = (async () => {
      do {
        this.again = false
        await this.pass().catch((err: Error) => { this.opts.log(`cache: could not enforce --cache-max: ${err.message}`) })
      } while (this.again)
    })().finally(() => { this.running = undefined })
    await this.running
  }

  private mustStay (cid: string, lastUsedMs: number, now: number): boolean {
    return this.opts.pinned(cid) || this.busy.has(cid) || now - lastUsedMs < (this.opts.graceMs ?? DEFAULT_CACHE_GRACE_MS)
  }

  private async pass (): Promise<void> {
    const now = this.now()
    const images: CachedImage[] = []
    for (const info of await this.opts.store.list()) {
      const disk = await this.opts.store.diskUsage(CID.parse(info.cid))
      if (disk == null) continue
      const served = this.opts.served(info.cid)
      if (served > (this.servedSeen.get(info.cid) ?? 0)) {
        this.servedSeen.set(info.cid, served)
        this.lastUsed.set(info.cid, now)
      }
      // Not used since this daemon started: when it became complete, or its pull last wrote.
      const lastUsedMs = this.lastUsed.get(info.cid) ?? disk.changedMs
      images.push({ cid: info.cid, bytes: disk.bytes, lastUsedMs, pinned: this.mustStay(info.cid, lastUsedMs, now) })
    }
    let total = images.reduce((sum, i) => sum + i.bytes, 0)
    for (const cid of pickEvictions(images, this.opts.maxBytes)) {
      const img = images.find(i => i.cid === cid) as CachedImage
      // A pull may have started on it while we looked at the others.
      if (this.mustStay(cid, this.lastUsed.get(cid) ?? img.lastUsedMs, this.now())) continue
      await this.opts.remove(cid)
      total -= img.bytes
      this.lastUsed.delete(cid)
      this.servedSeen.delete(cid)
      this.opts.log(`cache: removed ${cid} (${formatBytes(img.bytes)}, last used ${Math.round((now - img.lastUsedMs) / 60_000)} min ago) to keep the cache under ${formatBytes(this.opts.maxBytes)}`)
    }
    this.usedBytes = total
  }
}

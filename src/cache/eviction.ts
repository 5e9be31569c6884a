/**
 * Which cached images to remove so that a host's cache fits its bound.
 *
 * Every host keeps what it pulled, to serve it to the next hosts; on a
 * hypervisor that copy sits beside the VM's own disk, so without a bound the
 * cache grows by every image ever deployed there. Least recently used first,
 * as a cache of immutable blobs is kept elsewhere (Kraken's agents, a
 * container runtime's image GC). Pure: the caller says what is pinned.
 */

export interface CachedImage {
  cid: string
  /** Bytes it takes on disk (allocated blocks: images are sparse). */
  bytes: number
  /** When it was last added, pulled, copied out or served, in ms. */
  lastUsedMs: number
  /** Must stay: added on this host, being pulled or copied out, or just pulled. */
  pinned: boolean
}

/**
 * The unpinned images to remove, least recently used first, until the rest
 * fit in `maxBytes`. Pinned images count towards the total but never go, so
 * the result may still not fit (a pinned image larger than the bound).
 */
export function pickEvictions (images: readonly CachedImage[], maxBytes: number): string[] {
  let total = images.reduce((sum, i) => sum + i.bytes, 0)
  const out: string[] = []
  const candidates = images.filter(i => !i.pinned).sort((a, b) => a.lastUsedMs - b.lastUsedMs || (a.cid < b.cid ? -1 : 1))
  for (const i of candidates) {
    if (total <= maxBytes) break
    out.push(i.cid)
    total -= i.bytes
  }
  return out
}

import type { PeerKey } from './types.js'

/**
 * Splits the chunks among the members of one zone for cross-zone fetching:
 * each member owns the chunks whose hash falls on its rank among the sorted
 * member keys it knows (itself and its connected zone-mates). Every member
 * computes the same split from the same membership, with no messages, so
 * each chunk is pulled across the boundary by one member and then spread
 * inside the zone over the HAVE stream.
 */
export class ZonePartition {
  private readonly members = new Set<PeerKey>()
  private rank = 0
  private size = 1
  private dirty = false

  constructor (private readonly self?: PeerKey) {}

  /** False without a self key: then every chunk counts as ours. */
  get active (): boolean { return this.self !== undefined }

  /** Returns true when the membership changed. */
  add (peer: PeerKey): boolean {
    if (!this.active || peer === this.self || this.members.has(peer)) return false
    this.members.add(peer)
    this.dirty = true
    return true
  }

  remove (peer: PeerKey): boolean {
    if (!this.members.delete(peer)) return false
    this.dirty = true
    return true
  }

  owns (chunk: number): boolean {
    return this.distance(chunk) === 0
  }

  /** Our place after the chunk's owner in the member ring: 0 = we own it. */
  distance (chunk: number): number {
    if (!this.active) return 0
    if (this.dirty) this.recompute()
    return (this.rank - (chunkHash(chunk) % this.size) + this.size) % this.size
  }

  /** Members including us. */
  get memberCount (): number { return this.members.size + 1 }

  private recompute (): void {
    const keys = [...this.members, this.self as PeerKey].sort()
    this.rank = keys.indexOf(this.self as PeerKey)
    this.size = keys.length
    this.dirty = false
  }
}

/** A fixed integer mix (murmur3 finalizer) so neighbouring chunks land on different members. */
export function chunkHash (chunk: number): number {
  let x = Math.imul(chunk ^ 0x9e3779b9, 0x85ebca6b)
  x ^= x >>> 13
  x = Math.imul(x, 0xc2b2ae35)
  x ^= x >>> 16
  return x >>> 0
}

/**
 * Who holds what, for one download: per chunk we lack, how many near, far
 * and origin peers hold it, and the pools the picker draws from, kept in
 * step as HAVEs, bitfields, peers and requests come and go.
 *
 * `main` + `prio` hold every wanted, unrequested chunk by near availability
 * (prio: chunks whose request was released, picked before fresh ones);
 * `far` the subset a far peer may serve (no near holder, and ours by the
 * zone partition or past its cross-zone grace); `fromOrigin` the subset only
 * the origin holds.
 */
import type { Bitfield } from '../util/bitfield.js'
import { ChunkBuckets } from './chunk-buckets.js'
import { CROSS_ZONE_STEPS } from './constants.js'
import { TimeHeap } from './time-heap.js'
import type { PeerKey } from './types.js'
import { ZonePartition } from './zone-partition.js'

export const NEAR = 0
export const FAR = 1
export const ORIGIN = 2
export type PeerClass = typeof NEAR | typeof FAR | typeof ORIGIN

/** Keys for the bitfield scan: priority chunks sort before fresh ones. */
const FRESH = 1 << 20

export class Availability {
  readonly nearAvail: Int32Array
  readonly farAvail: Int32Array
  readonly originAvail: Int32Array
  /** The chunk's request was released (peer gone, choked, expired, rejected, corrupt). */
  readonly prioFlag: Uint8Array
  readonly main: ChunkBuckets
  readonly prio: ChunkBuckets
  readonly far: ChunkBuckets
  readonly fromOrigin: ChunkBuckets
  readonly partition: ZonePartition
  // Cross-zone grace: when each chunk, first seen in another zone, becomes ours to fetch too.
  private readonly farSeen: Uint8Array
  private readonly graceOk: Uint8Array
  private readonly graceTimers = new TimeHeap()
  private ownershipDirty = false

  /**
   * `have` and `reqCount` are the download's own (read here, never written):
   * a chunk we hold or have asked for sits in no pool.
   * `graceMs` gives the current cross-zone grace.
   */
  constructor (
    private readonly have: Bitfield,
    private readonly reqCount: Int32Array,
    private readonly zone: string | undefined,
    self: PeerKey | undefined,
    private readonly graceMs: () => number
  ) {
    const n = have.size
    this.partition = new ZonePartition(zone !== undefined ? self : undefined)
    this.nearAvail = new Int32Array(n)
    this.farAvail = new Int32Array(n)
    this.originAvail = new Int32Array(n)
    this.prioFlag = new Uint8Array(n)
    this.farSeen = new Uint8Array(n)
    this.graceOk = new Uint8Array(n)
    this.main = new ChunkBuckets(n)
    this.prio = new ChunkBuckets(n)
    this.far = new ChunkBuckets(n)
    this.fromOrigin = new ChunkBuckets(n)
    for (let c = 0; c < n; c++) if (!have.has(c)) this.main.put(c, 0)
  }

  /** No wanted chunk is left unrequested. */
  get allRequested (): boolean { return this.main.size + this.prio.size === 0 }

  classOf (meta: { origin?: boolean, zone?: string }): PeerClass {
    if (meta.origin === true) return ORIGIN
    if (this.zone !== undefined && meta.zone !== undefined && meta.zone !== this.zone) return FAR
    return NEAR
  }

  /** A near peer of our own zone takes part in the cross-zone split. */
  join (peer: PeerKey, cls: PeerClass, zone: string | undefined): void {
    if (cls === NEAR && zone !== undefined && zone === this.zone && this.partition.add(peer)) this.ownershipDirty = true
  }

  leave (peer: PeerKey): void {
    if (this.partition.remove(peer)) this.ownershipDirty = true
  }

  /** Count (delta +1) or uncount (-1) a peer's bitfield; chunks we hold are not counted. */
  countBits (bits: Uint8Array, cls: PeerClass, delta: number, now: number): void {
    const ours = this.have.bytes
    for (let i = 0; i < bits.length; i++) {
      let x = bits[i] & ~ours[i] & 0xff
      while (x !== 0) {
        const bit = Math.clz32(x) - 24
        x &= ~(0x80 >> bit) & 0xff
        this.bump(cls, (i << 3) + bit, delta, now)
      }
    }
  }

  /** One more (or one fewer) holder of a chunk we lack; keeps the pools in step. */
  bump (cls: PeerClass, c: number, delta: number, now: number): void {
    if (cls === NEAR) {
      const n = (this.nearAvail[c] += delta)
      if (n === 0 || (n === 1 && delta > 0)) {
        this.refresh(c) // crosses 0: far and origin eligibility change
      } else if (this.reqCount[c] === 0) {
        if (this.prioFlag[c] === 1) this.prio.put(c, n)
        else this.main.put(c, n)
      }
    } else if (cls === FAR) {
      const n = (this.farAvail[c] += delta)
      if (delta > 0 && this.farSeen[c] === 0 && this.partition.active) {
        this.farSeen[c] = 1
        // The owner goes first; the member next in line for it one grace later, and so
        // on, until after CROSS_ZONE_STEPS graces any member may take it.
        const d = Math.min(this.partition.distance(c), CROSS_ZONE_STEPS)
        if (d > 0) this.graceTimers.push(now + d * this.graceMs(), c)
      }
      if (n === 0 || (n === 1 && delta > 0)) this.refresh(c)
      else if (this.far.has(c)) this.far.put(c, n)
    } else {
      const n = (this.originAvail[c] += delta)
      if (n === 0 || (n === 1 && delta > 0)) this.refresh(c)
    }
  }

  /** Put the chunk in exactly the pools its state calls for. */
  refresh (c: number): void {
    if (this.have.has(c) || this.reqCount[c] > 0) {
      this.main.delete(c)
      this.prio.delete(c)
      this.far.delete(c)
      this.fromOrigin.delete(c)
      return
    }
    const near = this.nearAvail[c]
    const far = this.farAvail[c]
    if (this.prioFlag[c] === 1) {
      this.main.delete(c)
      this.prio.put(c, near)
    } else {
      this.prio.delete(c)
      this.main.put(c, near)
    }
    if (near === 0 && far > 0 && (this.graceOk[c] === 1 || this.partition.owns(c))) this.far.put(c, far)
    else this.far.delete(c)
    if (near === 0 && far === 0 && this.originAvail[c] > 0) this.fromOrigin.put(c, 0)
    else this.fromOrigin.delete(c)
  }

  /** Ownership changes and grace expiries due by `now`; true when what far peers may serve changed. */
  maintain (now: number): boolean {
    let changed = false
    if (this.ownershipDirty) {
      this.ownershipDirty = false
      for (let c = 0; c < this.farAvail.length; c++) if (this.farAvail[c] > 0) this.refresh(c)
      changed = true
    }
    while (this.graceTimers.peekTime() <= now) {
      const c = this.graceTimers.pop() as number
      this.graceOk[c] = 1
      this.refresh(c)
      changed = true
    }
    return changed
  }

  /** Rarity key of a chunk for a peer of this class in a bitfield scan, or -1 if not eligible. */
  key (cls: PeerClass, c: number): number {
    if (cls === NEAR) {
      if (this.prio.has(c)) return this.nearAvail[c]
      if (this.main.has(c)) return FRESH + this.nearAvail[c]
      return -1
    }
    if (cls === FAR) return this.far.has(c) ? this.farAvail[c] : -1
    return this.fromOrigin.has(c) ? 0 : -1
  }
}

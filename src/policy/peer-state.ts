/** What the download policy keeps per peer (download-policy.ts, and the feeder rule in feeder.ts). */
import type { Bitfield } from '../util/bitfield.js'
import type { PeerClass } from './availability.js'
import { RateMeter } from './pipeline.js'
import type { PeerKey, PeerMeta } from './types.js'

export interface Pending {
  sentAt: number
  ahead: number
  /** Its bytes arrived and are being verified (onArrived): answered, not to be given up. */
  arrived?: boolean
}

export interface PeerState {
  key: PeerKey
  meta: PeerMeta
  cls: PeerClass
  /** Random rank among equally good peers, so hosts do not all favour the same one. */
  tiebreak: number
  /** Its bitfield bytes (MSB first, as Bitfield); raw so a HAVE costs a few instructions. */
  bits: Uint8Array
  /**
   * Chunks it has that we lacked when last counted (exact at have.count ===
   * interestingAt; an upper bound after, since we only gain chunks).
   */
  interesting: number
  interestingAt: number
  /** Requests to keep outstanding (from its measured rate and round trip). */
  depth: number
  choked: boolean
  /**
   * When it choked us, if the request it was serving then was kept (the chunk
   * on the wire still arrives after a choke); that request expires after
   * about one chunk time from here (RequestBook.overdue).
   */
  chokedAt: number
  queue: Map<number, Pending>
  meter: RateMeter
  haveEpoch: number
  dryEpoch: number
  dryHave: number
  dryUntil: number
  corrupt: number
  rejected?: Set<number>
  /** When `rejected` got its first entry: it is forgotten requestTimeoutMs later (see forgetRejections). */
  rejectedSince: number
}

export function newPeerState (key: PeerKey, meta: PeerMeta, cls: PeerClass, tiebreak: number, chunkCount: number, choked: boolean): PeerState {
  return {
    key,
    meta: { ...meta },
    cls,
    tiebreak,
    bits: new Uint8Array(Math.ceil(chunkCount / 8)),
    interesting: 0,
    interestingAt: 0,
    depth: 0,
    choked,
    chokedAt: -1,
    queue: new Map(),
    meter: new RateMeter(),
    haveEpoch: 0,
    dryEpoch: -1,
    dryHave: -1,
    dryUntil: 0,
    corrupt: 0,
    rejectedSince: 0
  }
}

/** How many chunks `p` holds that `have` lacks: one pass over its bitfield. */
export function countWanted (p: PeerState, have: Bitfield): number {
  let n = 0
  const pb = p.bits
  const ob = have.bytes
  for (let i = 0; i < pb.length; i++) {
    const x = pb[i] & ~ob[i] & 0xff
    if (x !== 0) n += popcount(x)
  }
  return n
}

/**
 * Whether the peer has a chunk we lack. The count is recounted (one pass
 * over the bitfield) only when the chunks we gained since the last count
 * could have used it up, so the cost is amortized over many calls.
 */
export function hasWanted (p: PeerState, have: Bitfield): boolean {
  if (p.interesting === 0) return false
  if (p.interesting > have.count - p.interestingAt) return true
  const n = countWanted(p, have)
  p.interesting = n
  p.interestingAt = have.count
  return n > 0
}

/** The order peers are asked in: class (near, far, origin), fewest bad chunks, shortest round trip, then at random. */
export function comparePeers (a: PeerState, b: PeerState): number {
  return (a.cls - b.cls) || (a.corrupt - b.corrupt) ||
    ((a.meta.rttMs ?? Infinity) - (b.meta.rttMs ?? Infinity) || 0) || (a.tiebreak - b.tiebreak)
}

function popcount (x: number): number {
  x = x - ((x >> 1) & 0x55)
  x = (x & 0x33) + ((x >> 2) & 0x33)
  return (x + (x >> 4)) & 0x0f
}

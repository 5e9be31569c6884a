/** What the download policy keeps per peer (download-policy.ts, and the feeder rule in feeder.ts). */
import type { PeerClass } from './availability.js'
import type { RateMeter } from './pipeline.js'
import type { PeerKey, PeerMeta } from './types.js'

export interface Pending { sentAt: number, ahead: number }

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
   * about one chunk time from here (see expire).
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

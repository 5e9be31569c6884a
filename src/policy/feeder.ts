/**
 * A full-service origin that keeps up with our link is our only source
 * outside end game, as for a plain copy from it. FULL_SERVICE means its link
 * covers every host still pulling; trading among hosts as well adds only
 * upload CPU on every host and several senders converging on each host's
 * switch port (queue drops, and links idle while TCP recovers). If it
 * delivers under FEEDER_MIN_SHARE of our stated link, it is one peer among
 * others again, for the rest of this download. Part of the download policy
 * (download-policy.ts), which owns the peers and asks this rule.
 */
import { FEEDER_JUDGE_CHUNKS, FEEDER_MIN_SHARE } from './constants.js'
import type { PeerState } from './peer-state.js'
import { RateMeter } from './pipeline.js'
import type { PeerKey } from './types.js'

export class Feeder {
  private key?: PeerKey
  /** Full-service origins that proved too slow to feed us alone. */
  private readonly failed = new Set<PeerKey>()
  /** Chunks the current feeder delivered while no other peer had a request of ours. */
  private delivered = 0

  get current (): PeerKey | undefined { return this.key }

  /** `downlinkBps`: our stated link; 0 (unknown) means no feeder. */
  constructor (private readonly downlinkBps: number) {}

  /** The peer to take everything from now, if any; `order` is the policy's peer order. */
  choose (peers: ReadonlyMap<PeerKey, PeerState>, order: readonly PeerState[], now: number): PeerState | undefined {
    if (!(this.downlinkBps > 0)) return undefined
    if (this.key !== undefined) {
      const p = peers.get(this.key)
      if (p !== undefined && p.meta.fullService === true && !p.choked) {
        // A few chunks first: the first ones cross a connection still ramping up, from a busy origin.
        if (this.delivered < FEEDER_JUDGE_CHUNKS || p.meter.rate * 8 >= FEEDER_MIN_SHARE * this.downlinkBps) return p
        this.failed.add(p.key)
      }
      this.key = undefined
    }
    for (const p of order) {
      if (p.meta.fullService !== true || p.choked || this.failed.has(p.key)) continue
      // Judged afresh: as one source among several (or as a last resort that
      // refused us) it measured a share of our link, not what it can send.
      restartMeter(p, now)
      this.key = p.key
      this.delivered = 0
      return p
    }
    return undefined
  }

  /** `p` delivered a chunk: a feeder's rate counts from the first chunk it sent with no other peer busy. */
  onReceived (p: PeerState, peers: ReadonlyMap<PeerKey, PeerState>, now: number): void {
    if (p.key === this.key && onlyBusy(p, peers) && this.delivered++ === 0) restartMeter(p, now)
  }

  /**
   * Every outstanding chunk is queued at the feeder: a stall of that one
   * connection would hold the whole tail until the requests expire
   * (requestTimeoutMs), so the policy starts end game and re-asks whatever
   * runs overdue of idle holders. At 8 hosts one host sat 2.5 s on its last
   * three chunks, all queued at the front-end, after the other seven were
   * done (bench/cluster/FINDINGS.md, session 7 D). Only once it has
   * delivered: before that no request of ours has a due time to be late
   * against, and a tiny image would be asked of everyone.
   */
  holdsTail (peers: ReadonlyMap<PeerKey, PeerState>, inflight: ReadonlySet<number>): boolean {
    const f = this.key === undefined || this.delivered === 0 ? undefined : peers.get(this.key)
    if (f === undefined || f.queue.size !== inflight.size) return false
    for (const c of inflight) if (!f.queue.has(c)) return false
    return true
  }
}

/** Forget a peer's measured rate; the clock runs from now if it has requests queued. */
function restartMeter (p: PeerState, now: number): void {
  p.meter = new RateMeter()
  if (p.queue.size > 0) p.meter.busy(now)
}

/** Nothing outstanding at peers other than `f`: what `f` delivers is all our link carries. */
function onlyBusy (f: PeerState, peers: ReadonlyMap<PeerKey, PeerState>): boolean {
  for (const q of peers.values()) if (q !== f && q.queue.size > 0) return false
  return true
}

/**
 * The outstanding requests of one download: how many peers each chunk is
 * asked of, when those requests should have delivered it, which chunks are in
 * flight, and when a request is overdue. Booking and releasing keep the
 * availability pools in step: a missing chunk whose last request is released
 * unanswered goes to the priority pool, picked before any fresh chunk
 * (download-policy.ts). End game's choice of a duplicate lives here too,
 * since it is a question about requests: which in-flight chunk is late.
 */
import type { Bitfield } from '../util/bitfield.js'
import { type Availability, NEAR, ORIGIN } from './availability.js'
import { END_GAME_MIN } from './constants.js'
import type { PeerState } from './peer-state.js'
import { pipelineDepth, requestDeadline } from './pipeline.js'
import { NONE, hasBit } from './scan.js'
import type { DownloadConfig, Rng } from './types.js'

export class RequestBook {
  /** When the chunk's outstanding requests are expected to have delivered it (ms); end game duplicates only overdue chunks. */
  private readonly dueAt: Float64Array
  readonly inflight = new Set<number>()
  /** Chunks whose bytes arrived and are being verified. */
  readonly arriving = new Set<number>()
  /** Bumped when a chunk goes back to a pool unanswered: "this peer has nothing for us" answers cached before are stale. */
  releases = 0

  /** `count`: outstanding requests per chunk, shared with the availability pools. */
  constructor (
    readonly count: Int32Array,
    private readonly chunkBytes: number,
    private readonly have: Bitfield,
    private readonly avail: Availability,
    private readonly cfg: Required<DownloadConfig>
  ) {
    this.dueAt = new Float64Array(count.length)
  }

  book (p: PeerState, c: number, now: number): void {
    const ahead = p.queue.size
    p.queue.set(c, { sentAt: now, ahead })
    p.meter.busy(now)
    const rate = p.meter.rate
    const due = rate > 0 ? now + (ahead + 1) * this.chunkBytes * 1000 / rate : now
    if (this.count[c] === 0 || due > this.dueAt[c]) this.dueAt[c] = due
    if (this.count[c]++ === 0) {
      this.inflight.add(c)
      this.avail.prioFlag[c] = 0
      this.avail.refresh(c)
    }
  }

  /** The bytes of a chunk asked of `p` arrived; verification is under way (DownloadPolicy.onArrived). */
  arrived (p: PeerState, c: number): void {
    const r = p.queue.get(c)
    if (r === undefined) return
    r.arrived = true
    this.arriving.add(c)
  }

  /** Drop one outstanding request; an unrequested, missing chunk goes to the priority pool. */
  unbook (p: PeerState, c: number): void {
    if (p.queue.get(c)?.arrived === true) this.arriving.delete(c)
    if (!p.queue.delete(c)) return
    if (--this.count[c] > 0 || this.have.has(c)) return
    this.inflight.delete(c)
    this.avail.prioFlag[c] = 1
    this.avail.refresh(c)
    this.releases++
  }

  /**
   * A choke drops the requests queued at the peer, but the chunk it is
   * sending then still arrives (the sender finishes the chunk on the wire).
   * Re-requesting that chunk elsewhere at once made a duplicate for nearly
   * every choke (0.6-1.2 images per 64 MiB swarm, all of it upload taken from
   * other hosts), so the oldest request, the one being served, stays booked
   * for about one more chunk time (overdue) and the rest are released.
   */
  releaseChoked (p: PeerState, now: number): void {
    if (p.queue.size === 0) return
    let head = -1
    let headAt = Infinity
    for (const [c, r] of p.queue) if (r.sentAt < headAt && r.arrived !== true) { head = c; headAt = r.sentAt }
    // Chunks that arrived before the CHOKE are answered: given up while
    // their hashes were checked, each came a second time from elsewhere.
    for (const [c, r] of [...p.queue]) if (c !== head && r.arrived !== true) this.unbook(p, c)
    // The kept request may be the chunk on the wire, or one the peer dropped
    // with its queue: no longer due on time, so end game may ask elsewhere.
    if (head >= 0) this.dueAt[head] = Math.min(this.dueAt[head], now)
    p.chokedAt = now
    this.stall(p, now)
  }

  releaseAll (p: PeerState, now: number): void {
    if (p.queue.size === 0) return
    for (const c of [...p.queue.keys()]) this.unbook(p, c)
    this.stall(p, now)
  }

  /** Requests to this peer were dropped unanswered: the time counts against its rate. */
  stall (p: PeerState, now: number): void {
    p.meter.stall(now, p.queue.size > 0)
    this.updateDepth(p)
  }

  updateDepth (p: PeerState): void {
    p.depth = pipelineDepth(p.meter.rate, p.meta.rttMs ?? 0, this.chunkBytes, this.cfg)
  }

  /** The chunks asked of `p` that are overdue at `now`, or undefined. */
  overdue (p: PeerState, now: number): number[] | undefined {
    if (p.queue.size === 0) return undefined
    const rate = p.meter.rate
    if (p.choked) {
      // Only the request kept at the choke is left: it was on the wire, so it
      // lands within about a chunk time; past twice that, it was not.
      const rtt = p.meta.rttMs ?? 0
      const chunkMs = rate > 0 ? this.chunkBytes * 1000 / rate : this.cfg.requestTimeoutMs / 2
      if (now < p.chokedAt + 2 * (rtt + chunkMs)) return undefined
      const kept = [...p.queue].filter(([, r]) => r.arrived !== true).map(([c]) => c)
      return kept.length > 0 ? kept : undefined
    }
    let late: number[] | undefined
    for (const [c, r] of p.queue) {
      if (r.arrived !== true && now >= requestDeadline(r.sentAt, r.ahead, rate, this.chunkBytes, this.cfg.requestTimeoutMs, this.cfg.timeoutFactor)) {
        (late ??= []).push(c)
      }
    }
    return late
  }

  /**
   * End game: an outstanding chunk this peer has, asked of the fewest peers
   * so far, and only once its requests are overdue (past the time their
   * peers' measured rates predict): a duplicate of a chunk that is arriving
   * on time only wastes a link, since a transfer under way cannot be cancelled.
   */
  pickEndGame (p: PeerState, now: number, rng: Rng): number {
    let best = NONE
    let bestCount = this.cfg.endGameMaxRequests
    let ties = 0
    for (const c of this.inflight) {
      const n = this.count[c]
      if (n > bestCount || now < this.dueAt[c] || !hasBit(p.bits, c) || p.queue.has(c) || p.rejected?.has(c) === true || this.arriving.has(c)) continue
      if (p.cls !== NEAR && this.avail.nearAvail[c] > 0) continue
      if (p.cls === ORIGIN && this.avail.farAvail[c] > 0) continue
      if (n < bestCount) {
        best = c
        bestCount = n
        ties = 1
      } else if (n < this.cfg.endGameMaxRequests && rng() * ++ties < 1) {
        best = c
      }
    }
    return best
  }
}

/**
 * End game starts at the real end of the image: at most endGameThreshold
 * chunks outstanding, and no more than endGameFraction of the image (at least
 * END_GAME_MIN). A fixed 64 would make a 64-chunk image duplicate every request.
 */
export function endGameThreshold (chunkCount: number, cfg: Pick<Required<DownloadConfig>, 'endGameThreshold' | 'endGameFraction'>): number {
  return Math.min(cfg.endGameThreshold, Math.max(END_GAME_MIN, Math.ceil(cfg.endGameFraction * chunkCount)))
}

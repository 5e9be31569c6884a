/**
 * One image's download state at one host: availability, rarest-first picking,
 * per-peer pipelines, expiry, end game, zones and bad-peer scoring. Pure: the
 * driver feeds events and asks `pick(now)`.
 *
 * Chunks are the request unit, so "partly received" has no byte-level meaning
 * here; its intent (finish what was started before starting more) maps to
 * chunks whose request was released (peer gone, choked, expired, rejected,
 * corrupt): they go to a priority pool that is picked before any fresh chunk.
 *
 * Peers fall in three classes. Near (our zone, or no zone known): any chunk.
 * Far (another zone): only chunks no near peer holds, and of those only the
 * ones our zone partition assigns to us; a chunk left on offer there is
 * opened to the next member of the zone every crossZoneGraceMs (all of them
 * after CROSS_ZONE_STEPS), so each chunk crosses the boundary about once and
 * a slow or choked owner delays it by a grace, not forever. Origin:
 * the last resort, only chunks no other peer holds, so the front-end sends
 * about one image's worth (unless it offers full service: then it is near).
 * Who holds what, and the pools picked from, live in availability.ts; what
 * is asked of whom, and when it is overdue, in request-book.ts.
 */
import type { Bitfield } from '../util/bitfield.js'
import { Availability, FAR, NEAR, ORIGIN } from './availability.js'
import { DEFAULT_DOWNLOAD_CONFIG } from './constants.js'
import { Feeder } from './feeder.js'
import { type DuplicateCounts, DuplicateLedger } from './duplicate-ledger.js'
import { definedOnly } from './overrides.js'
import { type PeerState, comparePeers, countWanted, hasWanted, newPeerState } from './peer-state.js'
import { RequestBook, endGameThreshold } from './request-book.js'
import { type Budget, EXHAUSTED, NONE, scanBitfield, scanBuckets } from './scan.js'
import type {
  ChunkRequest, DownloadConfig, DownloadPolicy, DownloadPolicyOptions, PeerKey, PeerMeta, Rng
} from './types.js'

export function createDownloadPolicy (opts: DownloadPolicyOptions): DownloadPolicy {
  return new Download(opts)
}

class Download implements DownloadPolicy {
  readonly chunkCount: number
  readonly have: Bitfield
  private readonly chunkBytes: number
  private readonly cfg: Required<DownloadConfig>
  /** Outstanding chunks at or below which end game starts (see endGameThreshold()). */
  private readonly endGameThreshold: number
  private readonly rng: Rng
  private readonly peers = new Map<PeerKey, PeerState>()
  private readonly banned = new Set<PeerKey>()
  private order: PeerState[] = []
  /** The full-service origin we take everything from, if any (feeder.ts). */
  private readonly feeder: Feeder
  private orderDirty = false

  /** Outstanding requests per chunk (the book's counts). */
  private readonly reqCount: Int32Array
  private readonly avail: Availability
  private readonly requests: RequestBook
  /**
   * Chunks requested from the origin that another peer has announced since:
   * the next expire() withdraws them, so the origin's upload goes to chunks
   * only it holds and it sends about one image (FINDINGS 2).
   */
  private readonly withdraw = new Set<number>()
  private originPeers: PeerState[] = []
  private readonly dupes: DuplicateLedger

  /** Since when we have had nothing outstanding and nothing to ask (-1: not starved). */
  private starvedSince = -1
  /** Changes to the peers and pools after which a peer found dry may have something again. */
  private changes = 0
  private lastNow = 0
  private readonly budget: Budget = { left: 0 }

  constructor (opts: DownloadPolicyOptions) {
    const n = opts.chunkCount
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`chunkCount must be a non-negative integer, got ${n}`)
    if (opts.have.size !== n) throw new RangeError(`have bitfield has ${opts.have.size} bits, expected ${n}`)
    if (!(opts.chunkBytes > 0)) throw new RangeError(`chunkBytes must be positive, got ${opts.chunkBytes}`)
    this.chunkCount = n
    this.chunkBytes = opts.chunkBytes
    this.have = opts.have.clone()
    this.cfg = { ...DEFAULT_DOWNLOAD_CONFIG, ...definedOnly(opts.config) }
    this.feeder = new Feeder(this.cfg.downlinkBps)
    this.endGameThreshold = endGameThreshold(n, this.cfg)
    this.rng = opts.rng
    this.reqCount = new Int32Array(n)
    this.avail = new Availability(this.have, this.reqCount, opts.zone, opts.self, () => this.crossZoneGrace())
    this.requests = new RequestBook(this.reqCount, this.chunkBytes, this.have, this.avail, this.cfg)
    this.dupes = new DuplicateLedger(n)
  }

  /** Cached "nothing to pick from this peer" answers hold only within one epoch. */
  private get epoch (): number { return this.changes + this.requests.releases }

  get done (): boolean { return this.have.complete }

  // ---- peers ---------------------------------------------------------------

  addPeer (peer: PeerKey, meta: PeerMeta, now: number): void {
    this.lastNow = now
    if (this.banned.has(peer)) return
    if (this.peers.has(peer)) { this.updatePeer(peer, meta); return }
    const p = newPeerState(peer, meta, this.avail.classOf(meta), this.rng(), this.chunkCount, this.cfg.peersStartChoked)
    this.requests.updateDepth(p)
    this.peers.set(peer, p)
    this.avail.join(peer, p.cls, meta.zone)
    this.orderDirty = true
  }

  updatePeer (peer: PeerKey, meta: PeerMeta): void {
    const p = this.peers.get(peer)
    if (p === undefined) return
    const cls = this.avail.classOf(meta)
    if (cls !== p.cls || meta.zone !== p.meta.zone) {
      this.countBits(p, -1)
      this.avail.leave(peer)
      p.cls = cls
      p.meta = { ...meta }
      this.avail.join(peer, cls, meta.zone)
      this.countBits(p, +1)
      this.changes++
    } else {
      p.meta = { ...meta }
    }
    this.requests.updateDepth(p)
    this.orderDirty = true
  }

  removePeer (peer: PeerKey, now: number): void {
    this.lastNow = now
    const p = this.peers.get(peer)
    if (p === undefined) return
    this.requests.releaseAll(p, now)
    this.countBits(p, -1)
    this.avail.leave(peer)
    this.peers.delete(peer)
    this.orderDirty = true
    this.changes++
  }

  onBitfield (peer: PeerKey, have: Bitfield): void {
    const p = this.peers.get(peer)
    if (p === undefined) return
    if (have.size !== this.chunkCount) throw new RangeError(`bitfield has ${have.size} bits, expected ${this.chunkCount}`)
    this.countBits(p, -1)
    p.bits = have.bytes.slice()
    this.countBits(p, +1)
    p.interesting = countWanted(p, this.have)
    p.interestingAt = this.have.count
    p.haveEpoch++
  }

  onHave (peer: PeerKey, chunk: number): void {
    const p = this.peers.get(peer)
    if (p === undefined || !(chunk >= 0 && chunk < this.chunkCount)) return
    const i = chunk >> 3
    const m = 0x80 >> (chunk & 7)
    if ((p.bits[i] & m) !== 0) return
    p.bits[i] |= m
    // Availability is only kept for chunks we lack (see bump); most HAVEs late in a download stop here.
    if ((this.have.bytes[i] & m) !== 0) return
    p.haveEpoch++
    p.rejected?.delete(chunk)
    p.interesting++
    this.avail.bump(p.cls, chunk, +1, this.lastNow)
    if (p.cls !== ORIGIN && this.reqCount[chunk] > 0 && this.originPeers.length > 0) {
      for (const o of this.originPeers) if (o.queue.has(chunk)) this.withdraw.add(chunk)
    }
  }

  onChoke (peer: PeerKey, choked: boolean, now: number): void {
    this.lastNow = now
    const p = this.peers.get(peer)
    if (p === undefined) return
    p.choked = choked
    if (choked) {
      // All but the oldest go back to the pool at once; any of them the peer
      // had already sent before choking still arrives.
      for (const c of p.queue.keys()) this.dupes.mark(c, 'choked')
      this.requests.releaseChoked(p, now)
    } else if (p.rejected !== undefined) {
      p.rejected = undefined
      p.haveEpoch++
    }
  }

  // ---- transfer results ----------------------------------------------------

  onArrived (peer: PeerKey, chunk: number): void {
    const p = this.peers.get(peer)
    if (p !== undefined) this.requests.arrived(p, chunk)
  }

  onReceived (peer: PeerKey, chunk: number, bytes: number, now: number): ChunkRequest[] {
    this.lastNow = now
    if (chunk < 0 || chunk >= this.chunkCount) return []
    const p = this.peers.get(peer)
    if (p !== undefined && p.queue.delete(chunk)) {
      this.reqCount[chunk]--
      p.meter.sample(bytes, now, p.queue.size > 0)
      this.feeder.onReceived(p, this.peers, now)
      this.requests.updateDepth(p)
    }
    if (this.have.has(chunk)) {
      if (this.reqCount[chunk] === 0) this.requests.inflight.delete(chunk)
      return []
    }
    this.have.set(chunk)
    const cancels: ChunkRequest[] = []
    if (this.reqCount[chunk] > 0) {
      for (const q of this.peers.values()) {
        if (q.queue.delete(chunk)) {
          cancels.push({ peer: q.key, chunk })
          if (q.queue.size === 0) q.meter.idle() // lost a race: not its fault
        }
      }
    }
    this.reqCount[chunk] = 0
    this.avail.prioFlag[chunk] = 0
    this.requests.inflight.delete(chunk)
    this.requests.arriving.delete(chunk)
    this.avail.refresh(chunk)
    return cancels
  }

  onDuplicate (chunk: number): void {
    if (chunk >= 0 && chunk < this.chunkCount) this.dupes.charge(chunk)
  }

  duplicates (): DuplicateCounts {
    return this.dupes.snapshot()
  }

  onCorrupt (peer: PeerKey, chunk: number, now: number): { drop: boolean } {
    this.lastNow = now
    if (this.banned.has(peer)) return { drop: true }
    const p = this.peers.get(peer)
    if (p === undefined) return { drop: false }
    if (p.queue.has(chunk)) {
      this.requests.unbook(p, chunk)
      this.requests.stall(p, now)
    }
    p.corrupt++
    this.orderDirty = true
    if (p.corrupt < this.cfg.maxCorruptPerPeer) return { drop: false }
    this.banned.add(peer)
    this.removePeer(peer, now)
    return { drop: true }
  }

  onRejected (peer: PeerKey, chunk: number, now: number): void {
    this.lastNow = now
    const p = this.peers.get(peer)
    if (p === undefined) return
    if (p.queue.has(chunk)) {
      this.requests.unbook(p, chunk)
      this.requests.stall(p, now)
    }
    if (p.rejected === undefined) {
      p.rejected = new Set()
      p.rejectedSince = now
    }
    p.rejected.add(chunk)
  }

  // ---- decisions -----------------------------------------------------------

  get feederPeer (): PeerKey | undefined { return this.feeder.current }

  pick (now: number, limit = Infinity): ChunkRequest[] {
    this.lastNow = now
    // No budget is not starvation: nothing below runs, and nothing is timed.
    if (this.done || !(limit > 0)) return []
    this.maintain(now)
    const out: ChunkRequest[] = []
    const feeder = this.inEndGame() ? undefined : this.feeder.choose(this.peers, this.order, now)
    for (const p of this.order) {
      if (out.length >= limit) break
      if (p.rejected !== undefined) this.forgetRejections(p, now)
      if (feeder !== undefined && p !== feeder) continue
      // One source must keep our whole link busy: never fewer than three requests queued there.
      const depth = p === feeder ? Math.max(p.depth, this.cfg.minPipeline + 1) : p.depth
      if (p.choked || p.queue.size >= depth) continue
      while (p.queue.size < depth && out.length < limit) {
        let c: number
        if (this.inEndGame()) {
          // A duplicate goes only to a link with nothing else to do: a busy
          // link would serve it after its own queue, and take a chunk slot
          // from another host's download while the original is on its way.
          if (p.queue.size > 0) break
          c = this.requests.pickEndGame(p, now, this.rng)
          if (c >= 0) this.dupes.mark(c, 'endGame')
        } else {
          c = this.pickFor(p, now)
        }
        if (c < 0) break
        this.requests.book(p, c, now)
        out.push({ peer: p.key, chunk: c })
      }
    }
    if (out.length > 0 || this.requests.inflight.size > 0) {
      this.starvedSince = -1
    } else if (this.starvedSince < 0) {
      this.starvedSince = now
    } else if (now - this.starvedSince >= this.cfg.starveMs) {
      this.pickStarved(now, out, limit)
    }
    return out
  }

  /**
   * Starved (see starveMs): the near peers holding what we lack all choke us.
   * Ask unchoked far peers, then the origin, for a pipeline of whatever they
   * hold, rarest first, whether or not a near peer holds it too; the next
   * starvation is timed afresh once these are answered.
   */
  private pickStarved (now: number, out: ChunkRequest[], limit: number): void {
    for (const p of this.order) {
      if (p.cls === NEAR || p.choked) continue
      while (p.queue.size < p.depth && out.length < limit) {
        const rejected = p.rejected
        const c = scanBitfield(p.bits, this.have.bytes, this.chunkCount, (x) =>
          this.reqCount[x] > 0 || rejected?.has(x) === true ? -1 : this.avail.nearAvail[x] + this.avail.farAvail[x], this.rng)
        if (c < 0) break
        this.requests.book(p, c, now)
        out.push({ peer: p.key, chunk: c })
      }
      if (out.length > 0) break
    }
    if (out.length > 0) this.starvedSince = -1
  }

  expire (now: number): ChunkRequest[] {
    this.lastNow = now
    const out: ChunkRequest[] = []
    if (this.withdraw.size > 0) {
      for (const c of this.withdraw) {
        for (const o of this.originPeers) {
          const r = o.queue.get(c)
          if (r === undefined || r.arrived === true) continue
          this.requests.unbook(o, c)
          this.dupes.mark(c, 'withdrawn')
          if (o.queue.size === 0) o.meter.idle() // not the origin's fault
          out.push({ peer: o.key, chunk: c })
        }
      }
      this.withdraw.clear()
    }
    for (const p of this.peers.values()) {
      const late = this.requests.overdue(p, now)
      if (late === undefined) continue
      for (const c of late) {
        this.requests.unbook(p, c)
        this.dupes.mark(c, p.choked ? 'choked' : 'timeout')
        out.push({ peer: p.key, chunk: c })
      }
      this.requests.stall(p, now)
    }
    return out
  }

  isInterested (peer: PeerKey): boolean {
    const p = this.peers.get(peer)
    return p !== undefined && hasWanted(p, this.have)
  }

  outstanding (): ChunkRequest[] {
    const out: ChunkRequest[] = []
    for (const p of this.peers.values()) for (const c of p.queue.keys()) out.push({ peer: p.key, chunk: c })
    return out
  }

  // ---- picking internals ---------------------------------------------------

  private inEndGame (): boolean {
    const inflight = this.requests.inflight
    return this.avail.allRequested && inflight.size > 0 &&
      (inflight.size <= this.endGameThreshold || this.feeder.holdsTail(this.peers, inflight))
  }

  private pickFor (p: PeerState, now: number): number {
    if (p.dryEpoch === this.epoch && p.dryHave === p.haveEpoch && now < p.dryUntil) return NONE
    if (!hasWanted(p, this.have)) return NONE
    if (p.dryEpoch === this.epoch && p.dryHave === p.haveEpoch && now < p.dryUntil) return NONE
    let c: number
    if (this.have.count < this.cfg.randomFirstPicks) {
      c = scanBitfield(p.bits, this.have.bytes, this.chunkCount, (x) => this.eligibleKey(p, x) < 0 ? -1 : 0, this.rng)
    } else {
      this.budget.left = this.cfg.scanBudget
      const rejected = p.rejected
      const ok = rejected === undefined || rejected.size === 0 ? undefined : (x: number) => !rejected.has(x)
      const a = this.avail
      if (p.cls === NEAR) {
        c = scanBuckets(a.prio, 1, p.bits, ok, this.rng, this.budget)
        if (c === NONE) c = scanBuckets(a.main, 1, p.bits, ok, this.rng, this.budget)
      } else if (p.cls === FAR) {
        c = scanBuckets(a.far, 1, p.bits, ok, this.rng, this.budget)
      } else {
        c = scanBuckets(a.fromOrigin, 0, p.bits, ok, this.rng, this.budget)
      }
      if (c === EXHAUSTED) {
        c = scanBitfield(p.bits, this.have.bytes, this.chunkCount, (x) => this.eligibleKey(p, x), this.rng)
      }
    }
    if (c < 0) {
      p.dryEpoch = this.epoch
      p.dryHave = p.haveEpoch
      p.dryUntil = Infinity
    }
    return c
  }

  /** Rarity key of a chunk for this peer in the bitfield scan, or -1 if not eligible. */
  private eligibleKey (p: PeerState, c: number): number {
    return p.rejected?.has(c) === true ? -1 : this.avail.key(p.cls, c)
  }

  // ---- availability -------------------------------------------------------

  private countBits (p: PeerState, delta: number): void {
    this.avail.countBits(p.bits, p.cls, delta, this.lastNow)
  }

  /** crossZoneGraceMs, or crossZoneGraceChunks chunk times at the median peer rate if longer. */
  private crossZoneGrace (): number {
    const rates: number[] = []
    for (const p of this.peers.values()) if (p.cls !== ORIGIN && p.meter.rate > 0) rates.push(p.meter.rate)
    if (rates.length === 0) return this.cfg.crossZoneGraceMs
    rates.sort((a, b) => a - b)
    const chunkMs = this.chunkBytes * 1000 / rates[rates.length >> 1]
    return Math.max(this.cfg.crossZoneGraceMs, this.cfg.crossZoneGraceChunks * chunkMs)
  }

  /**
   * A refusal is not forever: the peer was choking us, lacked the chunk then,
   * or (the origin) expected us to find it elsewhere and serves a host that
   * stays starved. Rejections are dropped requestTimeoutMs after the first.
   */
  private forgetRejections (p: PeerState, now: number): void {
    if (now - p.rejectedSince < this.cfg.requestTimeoutMs) return
    p.rejected = undefined
    p.haveEpoch++
  }

  /** Deferred work before a pick: peer order, ownership changes, grace expiries. */
  private maintain (now: number): void {
    if (this.orderDirty) {
      this.order = [...this.peers.values()].sort(comparePeers)
      this.originPeers = this.order.filter(q => q.cls === ORIGIN)
      this.orderDirty = false
    }
    if (this.avail.maintain(now)) this.changes++
  }
}

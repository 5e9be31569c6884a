/**
 * The event loop: drives the same policy objects the daemon uses over a
 * flow-level network with a simulated clock (ms for the policies, seconds
 * for the network).
 *
 * Model, per directed connection u -> v:
 * - v's DownloadPolicy picks requests; each reaches u one latency later.
 * - u serves its requests to v one chunk at a time, in order (one stream):
 *   the connection's flow carries the current chunk, its max-min rate comes
 *   from the network, and the chunk is received when its bytes have flowed.
 *   The next queued chunk follows at once on the same flow.
 * - Requests that reach u while u chokes v are dropped (v learns of the choke
 *   by message and its policy drops them too); a chunk in flight finishes.
 * - On receipt v broadcasts HAVE, reaching its neighbours one latency later.
 * - Every node rechokes on its Choker's interval over plain statistics
 *   (rates over the last interval); a free upload slot is filled as soon as a
 *   peer turns interested (`fastUnchoke`).
 * - The front-end, in origin mode, reveals chunks per peer (targeted HAVEs);
 *   it asks its OriginPolicy after sending to a peer, when a chunk it sent is
 *   seen elsewhere, and on every tick.
 */
import { Bitfield } from '../util/bitfield.js'
import type { Choker, DownloadPolicy, OriginPolicy, PeerMeta, UploadPeerStats } from '../policy/types.js'
import { EventQueue } from './heap.js'
import { FlowNetwork } from './network.js'
import type { PolicyKit } from './kit.js'
import { ORIGIN_KEY, hostKey } from './baseline.js'
import type { Scenario } from './scenario.js'
import { buildTopology, linksOf, type Topology } from './topology.js'
import { mulberry32, subSeed } from './rng.js'
import { summarize, type SimResult } from './result.js'
import { tMin } from './bound.js'
import { FedJudge } from './fed-judge.js'
import { type TraceRow, traceRow } from './trace-row.js'

export type { TraceRow }

const EV_REQ = 1
const EV_HAVE = 2
const EV_CHOKE = 3
const EV_UNCHOKE = 4
const EV_CANCEL = 5
const EV_REJECT = 6
const EV_REVEAL = 7
const EV_TICK = 8
const EV_SAMPLE = 9

export interface SimOptions {
  /** Give up at this simulated time (s); default 20 x T_min + 60 s. */
  maxSimSeconds?: number
  /** Keep per-host completion times in the result. */
  perHost?: boolean
  /** Sample throughput and progress every this many simulated seconds into `trace`. */
  traceSeconds?: number
  /** Log every request, choke, receipt and expiry of this host into `log` (debugging a straggler). */
  watch?: number
}

export function simulate (s: Scenario, kit: PolicyKit, opts: SimOptions = {}): SimResult {
  return new Engine(s, kit, opts).run()
}

/** Run and keep a throughput/progress trace (for finding out why a run is slow). */
export function simulateTraced (s: Scenario, kit: PolicyKit, traceSeconds: number, watch?: number): { result: SimResult, trace: TraceRow[], log: string[] } {
  const e = new Engine(s, kit, { traceSeconds, perHost: true, watch })
  const result = e.run()
  return { result, trace: e.trace, log: e.log }
}

class Engine {
  private readonly topo: Topology
  private readonly net: FlowNetwork
  private readonly q = new EventQueue()
  private readonly N: number
  private readonly origin: number
  private readonly names: string[]
  private readonly chunkCount: number
  private readonly lastChunkBytes: number
  private readonly lat: number
  private readonly policies: DownloadPolicy[] = []
  private readonly chokers: Choker[] = []
  private readonly originPolicy: OriginPolicy | undefined
  private readonly connOf: Array<Map<string, number>> = []

  // per connection
  private readonly choked: Uint8Array
  private readonly interested: Uint8Array
  private readonly queues: Array<number[] | undefined>
  private readonly cur: Int32Array
  private readonly sent: Float64Array
  private readonly sentMark: Float64Array
  private readonly recvMark: Float64Array
  // per node
  private readonly unchokedCount: Int32Array
  private readonly lastRechoke: Float64Array
  private readonly doneAt: Float64Array
  private readonly pickFlag: Uint8Array
  private pickList: number[] = []
  private readonly originSentTo: Int32Array
  private readonly scratch = new Int32Array(4)
  readonly trace: TraceRow[] = []
  readonly log: string[] = []
  private readonly watch: number
  /** When each host starts pulling (s): before it, it sends no request and is revealed nothing. */
  private readonly joinAt: Float64Array
  /** Each host's own verdict on its download rate (for experimental chokers, bench/sim/variants.ts). */
  private readonly fed: FedJudge

  private remaining: number
  private frontEndBytes = 0
  private interZoneBytes = 0
  private duplicateBytes = 0
  private deliveries = 0
  private events = 0
  private requests = 0
  private droppedRequests = 0

  constructor (private readonly s: Scenario, kit: PolicyKit, private readonly opts: SimOptions) {
    this.topo = buildTopology(s, kit.graph ?? 'random')
    const C = this.topo.connStart[this.topo.nodes]
    this.net = new FlowNetwork(this.topo.linkCaps, C)
    this.N = s.hosts
    this.origin = this.N
    this.names = Array.from({ length: this.N }, (_, i) => hostKey(i))
    this.names.push(ORIGIN_KEY)
    this.chunkCount = Math.ceil(s.imageBytes / s.chunkBytes)
    this.lastChunkBytes = s.imageBytes - (this.chunkCount - 1) * s.chunkBytes
    this.lat = s.latencyMs / 1000
    this.choked = new Uint8Array(C).fill(1)
    this.interested = new Uint8Array(C)
    this.queues = new Array(C)
    this.cur = new Int32Array(C).fill(-1)
    this.sent = new Float64Array(C)
    this.sentMark = new Float64Array(C)
    this.recvMark = new Float64Array(C)
    this.unchokedCount = new Int32Array(this.N + 1)
    this.lastRechoke = new Float64Array(this.N + 1)
    this.doneAt = new Float64Array(this.N).fill(-1)
    this.pickFlag = new Uint8Array(this.N)
    this.originSentTo = new Int32Array(this.chunkCount).fill(-1)
    this.remaining = this.N
    this.watch = opts.watch ?? -1
    const joinRng = mulberry32(subSeed(s.seed, 0x701e))
    this.joinAt = Float64Array.from({ length: this.N }, () => joinRng() * s.startSpreadMs / 1000)
    this.fed = new FedJudge(this.N, s.hostDownload)

    for (let u = 0; u <= this.N; u++) {
      const m = new Map<string, number>()
      for (let c = this.topo.connStart[u]; c < this.topo.connStart[u + 1]; c++) m.set(this.names[this.topo.peer[c]], c)
      this.connOf.push(m)
      this.chokers.push(kit.choker(u === this.origin ? -1 : u, mulberry32(subSeed(s.seed, 2 * u + 1))))
    }
    for (let i = 0; i < this.N; i++) {
      this.policies.push(kit.download({
        chunkCount: this.chunkCount,
        chunkBytes: s.chunkBytes,
        have: new Bitfield(this.chunkCount),
        zone: zoneName(s.zoneOf[i]),
        rng: mulberry32(subSeed(s.seed, 2 * i)),
        config: s.policyConfig.download as never
      }, i))
    }
    this.originPolicy = kit.origin(this.chunkCount, mulberry32(subSeed(s.seed, 0x0819)))
  }

  run (): SimResult {
    const wall0 = performance.now()
    const bound = tMin({
      imageBytes: this.s.imageBytes,
      sourceUpload: this.s.frontEndUpload,
      hostDownloads: new Float64Array(this.N).fill(this.s.hostDownload),
      hostUploads: new Float64Array(this.N).fill(this.s.hostUpload)
    })
    const maxT = this.opts.maxSimSeconds ?? 20 * bound + 60
    this.start(0)
    let t = 0
    let stalled = false
    while (this.remaining > 0) {
      this.net.settle(t)
      const tf = this.net.completions.peekKey()
      const te = this.q.peekTime()
      if (tf === Infinity && te === Infinity) { stalled = true; break }
      this.events++
      if (tf <= te) {
        t = tf
        this.complete(this.net.completions.peekId(), t)
      } else {
        const slot = this.q.pop()
        t = this.q.at(slot)
        this.dispatch(this.q.kind(slot), this.q.a(slot), this.q.b(slot), t)
      }
      this.flushPicks(t)
      if (t > maxT) { stalled = true; break }
    }
    return summarize({
      scenario: this.s,
      chunkCount: this.chunkCount,
      tMinSeconds: bound,
      doneAt: this.doneAt,
      frontEndBytes: this.frontEndBytes,
      interZoneBytes: this.interZoneBytes,
      duplicateBytes: this.duplicateBytes,
      deliveries: this.deliveries,
      events: this.events,
      requests: this.requests,
      droppedRequests: this.droppedRequests,
      solves: this.net.stats,
      completed: !stalled,
      simSeconds: t,
      wallSeconds: (performance.now() - wall0) / 1000,
      perHost: this.opts.perHost === true
    })
  }

  private chunkLen (k: number): number { return k === this.chunkCount - 1 ? this.lastChunkBytes : this.s.chunkBytes }
  private ms (t: number): number { return t * 1000 }

  private start (t: number): void {
    const { connStart, peer, zoneOfNode } = this.topo
    const rng = mulberry32(subSeed(this.s.seed, 0x71c))
    const empty = new Bitfield(this.chunkCount)
    const full = Bitfield.full(this.chunkCount)
    for (let v = 0; v < this.N; v++) {
      const pol = this.policies[v]
      for (let c = connStart[v]; c < connStart[v + 1]; c++) {
        const x = peer[c]
        const meta: PeerMeta = { zone: zoneName(zoneOfNode[x]), rttMs: 2 * this.s.latencyMs }
        if (x === this.origin) meta.origin = true
        pol.addPeer(this.names[x], meta, this.ms(t))
        pol.onBitfield(this.names[x], x === this.origin && this.originPolicy == null ? full : empty)
      }
      this.originPolicy?.addPeer(this.names[v], { zone: zoneName(zoneOfNode[v]), rttMs: 2 * this.s.latencyMs })
    }
    for (let v = 0; v < this.N; v++) {
      for (let c = connStart[v]; c < connStart[v + 1]; c++) {
        const x = peer[c]
        if (x === this.origin && this.policies[v].isInterested(ORIGIN_KEY)) this.setInterested(this.topo.rev[c], t)
      }
    }
    if (this.originPolicy != null) for (let v = 0; v < this.N; v++) this.reveal(v, t)
    const tick = this.s.tickMs / 1000
    for (let u = 0; u <= this.N; u++) this.q.push(t + rng() * tick, EV_TICK, u, 0)
    if (this.opts.traceSeconds != null) this.q.push(t, EV_SAMPLE, 0, 0)
  }

  private dispatch (kind: number, a: number, b: number, t: number): void {
    switch (kind) {
      case EV_REQ: return this.onRequest(a, b, t)
      case EV_HAVE: return this.onHave(a, b, t)
      case EV_CHOKE: case EV_UNCHOKE: {
        const v = this.topo.peer[a]
        if (this.doneAt[v] >= 0) return
        if (v === this.watch) this.note(t, `${kind === EV_CHOKE ? 'choked' : 'unchoked'} by ${this.names[this.topo.owner[a]]}`)
        this.policies[v].onChoke(this.names[this.topo.owner[a]], kind === EV_CHOKE, this.ms(t))
        if (kind === EV_UNCHOKE) this.wantPick(v)
        return
      }
      case EV_CANCEL: {
        const qq = this.queues[a]
        if (qq != null) { const i = qq.indexOf(b); if (i >= 0) qq.splice(i, 1) }
        return
      }
      case EV_REJECT: {
        const v = this.topo.peer[a]
        if (this.doneAt[v] >= 0) return
        this.policies[v].onRejected(this.names[this.topo.owner[a]], b, this.ms(t))
        this.wantPick(v)
        return
      }
      case EV_REVEAL: {
        const v = this.topo.peer[a]
        if (this.doneAt[v] >= 0) return
        const pol = this.policies[v]
        pol.onHave(ORIGIN_KEY, b)
        if (!pol.have.has(b)) {
          if (this.interested[a] === 0) this.setInterested(a, t)
          if (this.choked[a] === 0) this.wantPick(v)
        }
        return
      }
      case EV_TICK: return this.onTick(a, t)
      case EV_SAMPLE:
        this.trace.push(traceRow({ s: this.s, topo: this.topo, net: this.net, policies: this.policies, doneAt: this.doneAt, choked: this.choked, chunkCount: this.chunkCount }, t))
        this.q.push(t + this.opts.traceSeconds!, EV_SAMPLE, 0, 0)
    }
  }

  private onRequest (c: number, chunk: number, t: number): void {
    const u = this.topo.owner[c]
    if (this.choked[c] === 1) {
      this.droppedRequests++
      if (this.topo.peer[c] === this.watch) this.note(t, `request ${chunk} dropped at ${this.names[u]} (choked)`)
      return
    }
    const refused = u === this.origin
      ? this.originPolicy?.serves(this.names[this.topo.peer[c]], chunk, this.ms(t)) === false
      : !this.policies[u].have.has(chunk)
    if (refused) {
      this.q.push(t + this.lat, EV_REJECT, c, chunk)
      return
    }
    if (this.cur[c] < 0) {
      this.cur[c] = chunk
      const n = linksOf(this.topo, u, this.topo.peer[c], this.scratch)
      this.net.start(c, this.scratch, n, this.chunkLen(chunk), t)
    } else {
      let qq = this.queues[c]
      if (qq == null) { qq = []; this.queues[c] = qq }
      qq.push(chunk)
    }
  }

  /** Flow c's current chunk has fully flowed. */
  private complete (c: number, t: number): void {
    const u = this.topo.owner[c]
    const v = this.topo.peer[c]
    const chunk = this.cur[c]
    const bytes = this.chunkLen(chunk)
    this.sent[c] += bytes
    this.fed.received(v, bytes)
    if (u === this.origin) this.frontEndBytes += bytes
    if (this.topo.zoneOfNode[u] !== this.topo.zoneOfNode[v]) this.interZoneBytes += bytes
    const qq = this.queues[c]
    if (qq != null && qq.length > 0) {
      const next = qq.shift()!
      this.cur[c] = next
      this.net.next(c, this.chunkLen(next), t)
    } else {
      this.cur[c] = -1
      this.net.stop(c, t)
    }
    if (u === this.origin && this.originPolicy != null) {
      this.originPolicy.onSent(this.names[v], chunk)
      if (this.originSentTo[chunk] < 0) this.originSentTo[chunk] = v
    }
    this.deliver(v, u, chunk, bytes, t)
    if (u === this.origin && this.originPolicy != null) this.reveal(v, t)
  }

  private deliver (v: number, u: number, chunk: number, bytes: number, t: number): void {
    const pol = this.policies[v]
    const had = pol.have.has(chunk)
    const cancels = pol.onReceived(this.names[u], chunk, bytes, this.ms(t))
    if (v === this.watch) this.note(t, `got ${chunk} from ${this.names[u]}${had ? ' (duplicate)' : ''}, have ${pol.have.count}, cancel ${cancels.map(r => r.peer).join(' ')}`)
    for (const r of cancels) {
      const c = this.connOf[v].get(r.peer)
      if (c !== undefined) this.q.push(t + this.lat, EV_CANCEL, this.topo.rev[c], r.chunk)
    }
    if (had) { this.duplicateBytes += bytes; return }
    if (!pol.have.has(chunk)) pol.have.set(chunk)
    this.deliveries++
    this.q.push(t + this.lat, EV_HAVE, v, chunk)
    if (this.doneAt[v] < 0 && pol.have.complete) {
      this.doneAt[v] = t
      this.remaining--
      const { connStart, rev } = this.topo
      for (let c = connStart[v]; c < connStart[v + 1]; c++) this.interested[rev[c]] = 0
      return
    }
    this.wantPick(v)
  }

  /** v's HAVE for chunk reaches every neighbour. */
  private onHave (v: number, chunk: number, t: number): void {
    const { connStart, peer } = this.topo
    for (let c = connStart[v]; c < connStart[v + 1]; c++) {
      const x = peer[c]
      if (x === this.origin) {
        if (this.originPolicy == null) continue
        this.originPolicy.onPeerHave(this.names[v], chunk)
        const first = this.originSentTo[chunk]
        if (first >= 0 && first !== v) this.reveal(first, t)
        continue
      }
      if (this.doneAt[x] >= 0) continue
      const pol = this.policies[x]
      pol.onHave(this.names[v], chunk)
      if (!pol.have.has(chunk)) {
        if (this.interested[c] === 0) this.setInterested(c, t)
        if (this.choked[c] === 0) this.wantPick(x)
      }
    }
  }

  /** The downloader of c turned interested in its uploader. */
  private setInterested (c: number, t: number): void {
    this.interested[c] = 1
    const u = this.topo.owner[c]
    if (this.s.fastUnchoke && this.choked[c] === 1 && this.unchokedCount[u] < this.chokers[u].config.uploadSlots) this.setChoke(c, false, t)
  }

  private setChoke (c: number, choke: boolean, t: number): void {
    const u = this.topo.owner[c]
    if (choke) {
      this.choked[c] = 1
      this.unchokedCount[u]--
      const qq = this.queues[c]
      if (qq != null) { this.droppedRequests += qq.length; qq.length = 0 }
      this.q.push(t + this.lat, EV_CHOKE, c, 0)
    } else {
      this.choked[c] = 0
      this.unchokedCount[u]++
      this.q.push(t + this.lat, EV_UNCHOKE, c, 0)
    }
  }

  private reveal (v: number, t: number): void {
    if (t < this.joinAt[v]) return // its link to the front-end is not up yet
    const chunks = this.originPolicy!.reveal(this.names[v], this.ms(t))
    if (chunks.length === 0) return
    const c = this.connOf[this.origin].get(this.names[v])!
    for (const k of chunks) this.q.push(t + this.lat, EV_REVEAL, c, k)
  }

  private onTick (u: number, t: number): void {
    if (u !== this.origin && this.doneAt[u] < 0) {
      const pol = this.policies[u]
      for (const r of pol.expire(this.ms(t))) {
        if (u === this.watch) this.note(t, `expired ${r.chunk} at ${r.peer}`)
        const c = this.connOf[u].get(r.peer)
        if (c !== undefined) this.q.push(t + this.lat, EV_CANCEL, this.topo.rev[c], r.chunk)
      }
      this.wantPick(u)
    }
    if (u === this.origin && this.originPolicy != null) for (let v = 0; v < this.N; v++) if (this.doneAt[v] < 0) this.reveal(v, t)
    const ch = this.chokers[u]
    if (t - this.lastRechoke[u] >= ch.config.rechokeIntervalMs / 1000 - 1e-9 || this.lastRechoke[u] === 0) this.rechoke(u, t)
    this.q.push(t + this.s.tickMs / 1000, EV_TICK, u, 0)
  }

  private rechoke (u: number, t: number): void {
    const { connStart, peer, rev, zoneOfNode } = this.topo
    const dt = Math.max(t - this.lastRechoke[u], 1e-3)
    if (u !== this.origin) this.fed.judge(u, dt, this.doneAt[u] < 0 && t >= this.joinAt[u] + 2)
    const stats: UploadPeerStats[] = []
    const uName = this.names[u]
    for (let c = connStart[u]; c < connStart[u + 1]; c++) {
      const v = peer[c]
      if (v === this.origin) continue
      const interested = this.doneAt[v] < 0 && this.policies[v].isInterested(uName)
      this.interested[c] = interested ? 1 : 0
      stats.push({
        peer: this.names[v],
        interested,
        downloadRate: (this.sent[rev[c]] - this.recvMark[c]) / dt,
        uploadRate: (this.sent[c] - this.sentMark[c]) / dt,
        unchoked: this.choked[c] === 0,
        zone: zoneName(zoneOfNode[v]),
        rttMs: 2 * this.s.latencyMs,
        // Not in the contract: what the peer holds, for experimental chokers (bench/sim/variants.ts).
        haveCount: this.policies[v].have.count,
        underfed: this.fed.underfed(v)
      } as UploadPeerStats)
      this.recvMark[c] = this.sent[rev[c]]
      this.sentMark[c] = this.sent[c]
    }
    this.lastRechoke[u] = t
    const seeding = u === this.origin || this.doneAt[u] >= 0
    const decision = this.chokers[u].rechoke(stats, seeding, this.ms(t))
    if (u === this.watch) {
      const mb = (x: number): string => (x / 1e6).toFixed(0)
      this.note(t, `rechoke (${seeding ? 'seeding' : 'leeching'}): interested ${stats.filter(p => p.interested).map(p => `${p.peer}[dl ${mb(p.downloadRate)} ul ${mb(p.uploadRate)}${p.unchoked ? ' U' : ''}]`).join(' ')} -> unchoke ${decision.unchoked.join(' ')} opt ${decision.optimistic ?? '-'}`)
    }
    const keep = new Set(decision.unchoked)
    if (decision.optimistic !== undefined) keep.add(decision.optimistic)
    for (let c = connStart[u]; c < connStart[u + 1]; c++) {
      const v = peer[c]
      if (v === this.origin) continue
      const want = keep.has(this.names[v])
      if (want && this.choked[c] === 1) this.setChoke(c, false, t)
      else if (!want && this.choked[c] === 0) this.setChoke(c, true, t)
    }
  }

  private note (t: number, what: string): void {
    this.log.push(`${t.toFixed(4)} ${what}`)
  }

  private wantPick (v: number): void {
    if (this.pickFlag[v] === 0) { this.pickFlag[v] = 1; this.pickList.push(v) }
  }

  private flushPicks (t: number): void {
    if (this.pickList.length === 0) return
    const list = this.pickList
    this.pickList = []
    for (const v of list) {
      this.pickFlag[v] = 0
      if (this.doneAt[v] >= 0 || t < this.joinAt[v]) continue // not started: its ticks ask again
      const reqs = this.policies[v].pick(this.ms(t))
      if (v === this.watch && reqs.length > 0) this.note(t, `request ${reqs.map(r => `${r.chunk}@${r.peer}`).join(' ')}`)
      for (const r of reqs) {
        const c = this.connOf[v].get(r.peer)
        if (c === undefined) continue
        this.requests++
        this.q.push(t + this.lat, EV_REQ, this.topo.rev[c], r.chunk)
      }
    }
  }
}

export function zoneName (z: number): string {
  return z < 0 ? 'core' : `z${z}`
}

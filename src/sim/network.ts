/**
 * Flow-level network: links with capacities (bytes/s), flows crossing up to
 * four links each, and rates shared max-min fairly (progressive filling).
 *
 * Rates are updated incrementally. A change (flow started or stopped) marks
 * its links dirty; only flows on dirty links are re-solved, with every other
 * flow's rate held as a fixed load. If a re-solved flow's rate moved, its other
 * links join the dirty set and the solve repeats, so the result is the global
 * max-min allocation while the work stays near the change. Past a quarter of
 * all links the solve goes global at once. Changes made at one instant are
 * batched into one solve by `settle`.
 *
 * Each flow has `remaining` bytes at `tref` and a rate; its completion time
 * sits in an IndexedHeap. A flow that moves to its next chunk keeps its rate
 * (no re-solve); only starts and stops trigger one.
 */
import { IndexedHeap } from './heap.js'

const MAX_LINKS_PER_FLOW = 4
/** A re-solved rate that moved by less than this fraction does not spread the solve further. */
const REL_EPS = 1e-9

export interface NetworkStats {
  solves: number
  globalSolves: number
  flowsResolved: number
}

export class FlowNetwork {
  readonly cap: Float64Array
  readonly completions: IndexedHeap
  readonly stats: NetworkStats = { solves: 0, globalSolves: 0, flowsResolved: 0 }

  private readonly load: Float64Array
  private readonly linkFlows: number[][]
  private readonly flowN: Uint8Array
  private readonly flowL: Int32Array
  private readonly flowSlot: Int32Array
  private readonly rateA: Float64Array
  private readonly newRate: Float64Array
  private readonly rem: Float64Array
  private readonly tref: Float64Array
  private readonly activePos: Int32Array
  private readonly active: number[] = []

  // Solver scratch, reused between solves.
  private readonly linkMark: Int32Array
  private readonly invMark: Int32Array
  private readonly flowMark: Int32Array
  private readonly fixedMark: Int32Array
  private readonly res: Float64Array
  private readonly cnt: Int32Array
  private readonly ver: Int32Array
  private epoch = 0
  private pass = 0
  private dirty: number[] = []
  private readonly setFlows: number[] = []
  private readonly invLinks: number[] = []
  private hk = new Float64Array(256)
  private hl = new Int32Array(256)
  private hv = new Int32Array(256)
  private hn = 0

  constructor (linkCaps: ArrayLike<number>, maxFlows: number) {
    const L = linkCaps.length
    this.cap = Float64Array.from(linkCaps)
    this.load = new Float64Array(L)
    this.linkFlows = Array.from({ length: L }, () => [])
    this.flowN = new Uint8Array(maxFlows)
    this.flowL = new Int32Array(maxFlows * MAX_LINKS_PER_FLOW)
    this.flowSlot = new Int32Array(maxFlows * MAX_LINKS_PER_FLOW)
    this.rateA = new Float64Array(maxFlows)
    this.newRate = new Float64Array(maxFlows)
    this.rem = new Float64Array(maxFlows)
    this.tref = new Float64Array(maxFlows)
    this.activePos = new Int32Array(maxFlows).fill(-1)
    this.completions = new IndexedHeap(maxFlows)
    this.linkMark = new Int32Array(L)
    this.invMark = new Int32Array(L)
    this.flowMark = new Int32Array(maxFlows)
    this.fixedMark = new Int32Array(maxFlows)
    this.res = new Float64Array(L)
    this.cnt = new Int32Array(L)
    this.ver = new Int32Array(L)
  }

  get activeFlows (): number { return this.active.length }
  /** Sum of the current rates of the flows on link l (bytes/s). */
  linkLoad (l: number): number { return this.load[l] }
  isActive (f: number): boolean { return this.activePos[f] >= 0 }
  rate (f: number): number { return this.rateA[f] }
  /** Bytes the flow still has to move at time `now` for its current chunk. */
  remaining (f: number, now: number): number { return Math.max(0, this.rem[f] - this.rateA[f] * (now - this.tref[f])) }

  /** Start flow `f` over the given links (at most four) with `bytes` to move. Rate is set by the next settle. */
  start (f: number, links: ArrayLike<number>, nLinks: number, bytes: number, now: number): void {
    if (this.activePos[f] >= 0) throw new Error(`flow ${f} already active`)
    this.activePos[f] = this.active.length
    this.active.push(f)
    this.flowN[f] = nLinks
    const base = f * MAX_LINKS_PER_FLOW
    for (let k = 0; k < nLinks; k++) {
      const l = links[k]
      this.flowL[base + k] = l
      const list = this.linkFlows[l]
      this.flowSlot[base + k] = list.length
      list.push(f)
      this.markDirty(l)
    }
    this.rateA[f] = 0
    this.rem[f] = bytes
    this.tref[f] = now
    this.completions.remove(f)
  }

  /** The flow's chunk finished; carry on at the same rate with `bytes` more (no re-solve). */
  next (f: number, bytes: number, now: number): void {
    this.rem[f] = bytes
    this.tref[f] = now
    const r = this.rateA[f]
    if (r > 0) this.completions.set(f, now + bytes / r)
  }

  stop (f: number, now: number): void {
    const p = this.activePos[f]
    if (p < 0) return
    const last = this.active.pop()!
    if (last !== f) { this.active[p] = last; this.activePos[last] = p }
    this.activePos[f] = -1
    this.completions.remove(f)
    const base = f * MAX_LINKS_PER_FLOW
    const r = this.rateA[f]
    for (let k = 0; k < this.flowN[f]; k++) {
      const l = this.flowL[base + k]
      const list = this.linkFlows[l]
      const slot = this.flowSlot[base + k]
      const moved = list.pop()!
      if (moved !== f) {
        list[slot] = moved
        const mb = moved * MAX_LINKS_PER_FLOW
        for (let j = 0; j < this.flowN[moved]; j++) if (this.flowL[mb + j] === l) { this.flowSlot[mb + j] = slot; break }
      }
      this.load[l] -= r
      if (list.length === 0) this.load[l] = 0
      this.markDirty(l)
    }
    this.rem[f] = Math.max(0, this.rem[f] - r * (now - this.tref[f]))
    this.tref[f] = now
    this.rateA[f] = 0
    this.flowN[f] = 0
  }

  /** Re-solve rates around every change since the last settle. */
  settle (now: number): void {
    if (this.dirty.length === 0) return
    this.stats.solves++
    const L = this.cap.length
    for (;;) {
      const global = this.dirty.length * 4 > L
      if (global) this.markAllDirty()
      this.collect()
      this.fill()
      if (global || !this.expand()) break
    }
    this.commit(now)
    this.epoch++
    this.dirty = []
  }

  private markDirty (l: number): void {
    if (this.linkMark[l] !== this.epoch + 1) {
      this.linkMark[l] = this.epoch + 1
      this.dirty.push(l)
    }
  }

  private markAllDirty (): void {
    this.stats.globalSolves++
    const d: number[] = []
    for (let l = 0; l < this.cap.length; l++) {
      this.linkMark[l] = this.epoch + 1
      if (this.linkFlows[l].length > 0) d.push(l)
    }
    this.dirty = d
  }

  /** Gather the flows on dirty links and every link they cross, with residual capacity and counts. */
  private collect (): void {
    const p = ++this.pass
    const flows = this.setFlows
    const inv = this.invLinks
    flows.length = 0
    inv.length = 0
    for (const l of this.dirty) {
      for (const f of this.linkFlows[l]) {
        if (this.flowMark[f] !== p) { this.flowMark[f] = p; flows.push(f) }
      }
    }
    for (const f of flows) {
      const base = f * MAX_LINKS_PER_FLOW
      const r = this.rateA[f]
      for (let k = 0; k < this.flowN[f]; k++) {
        const l = this.flowL[base + k]
        if (this.invMark[l] !== p) {
          this.invMark[l] = p
          inv.push(l)
          this.res[l] = this.cap[l] - this.load[l]
          this.cnt[l] = 0
        }
        this.res[l] += r
        this.cnt[l]++
      }
    }
    this.stats.flowsResolved += flows.length
  }

  /** Progressive filling over the collected flows: repeatedly saturate the link with the smallest fair share. */
  private fill (): void {
    const p = this.pass
    this.hn = 0
    for (const l of this.invLinks) {
      this.ver[l]++
      if (this.cnt[l] > 0) this.hpush(Math.max(0, this.res[l]) / this.cnt[l], l)
    }
    while (this.hn > 0) {
      const l = this.hl[0]
      const v = this.hv[0]
      const share = this.hk[0]
      this.hpop()
      if (v !== this.ver[l] || this.cnt[l] === 0) continue
      const list = this.linkFlows[l]
      for (let i = 0; i < list.length; i++) {
        const f = list[i]
        if (this.flowMark[f] !== p || this.fixedMark[f] === p) continue
        this.fixedMark[f] = p
        this.newRate[f] = share
        const base = f * MAX_LINKS_PER_FLOW
        for (let k = 0; k < this.flowN[f]; k++) {
          const l2 = this.flowL[base + k]
          this.res[l2] -= share
          this.cnt[l2]--
          if (l2 !== l && this.cnt[l2] > 0) {
            this.ver[l2]++
            this.hpush(Math.max(share, this.res[l2] / this.cnt[l2]), l2)
          }
        }
      }
      this.cnt[l] = 0
    }
  }

  /** Add the links of every flow whose rate moved; true when the dirty set grew. */
  private expand (): boolean {
    let grew = false
    for (const f of this.setFlows) {
      const a = this.rateA[f]
      const b = this.newRate[f]
      if (Math.abs(a - b) <= REL_EPS * Math.max(a, b)) continue
      const base = f * MAX_LINKS_PER_FLOW
      for (let k = 0; k < this.flowN[f]; k++) {
        const l = this.flowL[base + k]
        if (this.linkMark[l] !== this.epoch + 1) {
          this.linkMark[l] = this.epoch + 1
          this.dirty.push(l)
          grew = true
        }
      }
    }
    return grew
  }

  private commit (now: number): void {
    for (const f of this.setFlows) {
      const a = this.rateA[f]
      const b = this.newRate[f]
      if (a === b) continue
      const base = f * MAX_LINKS_PER_FLOW
      for (let k = 0; k < this.flowN[f]; k++) this.load[this.flowL[base + k]] += b - a
      this.rem[f] = Math.max(0, this.rem[f] - a * (now - this.tref[f]))
      this.tref[f] = now
      this.rateA[f] = b
      if (b > 0) this.completions.set(f, now + this.rem[f] / b)
      else this.completions.remove(f)
    }
  }

  private hpush (key: number, l: number): void {
    if (this.hn === this.hk.length) {
      const k = new Float64Array(this.hn * 2); k.set(this.hk); this.hk = k
      const ll = new Int32Array(this.hn * 2); ll.set(this.hl); this.hl = ll
      const vv = new Int32Array(this.hn * 2); vv.set(this.hv); this.hv = vv
    }
    let i = this.hn++
    const v = this.ver[l]
    while (i > 0) {
      const p = (i - 1) >> 1
      if (this.hk[p] <= key) break
      this.hk[i] = this.hk[p]; this.hl[i] = this.hl[p]; this.hv[i] = this.hv[p]
      i = p
    }
    this.hk[i] = key; this.hl[i] = l; this.hv[i] = v
  }

  private hpop (): void {
    const n = --this.hn
    if (n === 0) return
    const key = this.hk[n]; const l = this.hl[n]; const v = this.hv[n]
    let i = 0
    for (;;) {
      let c = 2 * i + 1
      if (c >= n) break
      if (c + 1 < n && this.hk[c + 1] < this.hk[c]) c++
      if (this.hk[c] >= key) break
      this.hk[i] = this.hk[c]; this.hl[i] = this.hl[c]; this.hv[i] = this.hv[c]
      i = c
    }
    this.hk[i] = key; this.hl[i] = l; this.hv[i] = v
  }
}

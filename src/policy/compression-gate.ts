/**
 * Whether this host's CPU has room for compressed chunks right now.
 *
 * Compressed chunks trade CPU for bytes: the receiver inflates each one, and a
 * sender compresses what it has no frame for. Where the link is the limit that
 * is a gain twice over (fewer bytes to wait for, and fewer to receive, which
 * is most of a host's CPU at a link's rate). Where the CPU is the limit, the
 * bytes saved are cheap and the inflating is not: a Debian image to 24 hosts
 * on two cores took 2.4 x T_min compressed against 2.0 x plain
 * (bench/cluster/FINDINGS.md session 14 B, session 15).
 *
 * The signal is the network thread's own scheduler accounting: the time it ran
 * and the time it sat runnable, waiting for a core. `share` = run / (run +
 * wait) is how much of a core the thread gets when it wants one; `demand` =
 * (run + wait) / wall is how often it wants one. Measured on the two-core
 * benchmark machine: 8 hosts (links the limit) share ~0.3 at demand ~0.5;
 * 24 hosts (CPU the limit) share ~0.05 at demand ~0.8. A thread that runs
 * nearly all the time (a fast link on one core) is CPU-bound too, waiting or
 * not.
 *
 * Pure: it is fed cumulative counters with their time and says open or
 * closed, with hysteresis so one busy second does not flip it.
 */

/** Cumulative counters of the network thread at one moment. */
export interface CpuSample {
  atMs: number
  /** Time the thread ran, in ms, since some fixed start. */
  runMs: number
  /** Time it was runnable but waited for a core, in ms, since the same start. */
  waitMs: number
}

export interface CompressionGateConfig {
  /** The span the decision looks back over. */
  windowMs: number
  /** Close when the thread gets less than this share of a core while it wants one... */
  closeBelowShare: number
  /** ...and reopen only above this share. */
  openAboveShare: number
  /** A thread wanting a core less often than this is not short of one, whatever its share (closing only). */
  minDemand: number
  /** Running this fraction of the time: the thread itself is the limit. */
  busyRun: number
}

export const DEFAULT_COMPRESSION_GATE: CompressionGateConfig = {
  windowMs: 4000,
  closeBelowShare: 0.12,
  openAboveShare: 0.2,
  minDemand: 0.3,
  busyRun: 0.85
}

/** What the last full window showed. */
export interface CpuReading {
  share: number
  demand: number
  run: number
}

export class CompressionGate {
  /** Take compressed chunks, and compress for peers that take them. */
  open = true
  /** The last window's figures (undefined until a window has passed). */
  reading?: CpuReading
  private readonly samples: CpuSample[] = []
  private readonly cfg: CompressionGateConfig

  constructor (config: Partial<CompressionGateConfig> = {}) {
    this.cfg = { ...DEFAULT_COMPRESSION_GATE, ...config }
  }

  /** Feed the thread's counters; returns true when `open` changed. */
  sample (s: CpuSample): boolean {
    this.samples.push(s)
    // Keep the newest sample that is at least a window old as the baseline.
    while (this.samples.length > 2 && s.atMs - this.samples[1].atMs >= this.cfg.windowMs) this.samples.shift()
    const base = this.samples[0]
    const wall = s.atMs - base.atMs
    if (wall < this.cfg.windowMs) return false
    const run = Math.max(0, s.runMs - base.runMs)
    const wait = Math.max(0, s.waitMs - base.waitMs)
    const wanted = run + wait
    const r: CpuReading = { share: wanted > 0 ? run / wanted : 1, demand: wanted / wall, run: run / wall }
    this.reading = r
    const starved = r.run >= this.cfg.busyRun || (r.demand >= this.cfg.minDemand && r.share < this.cfg.closeBelowShare)
    // Reopen on the share alone: a thread with little to do on a machine still
    // short of cores would only close again when work comes (at N = 24 lulls
    // made gates flap 6-10 times a run when low demand reopened them).
    const relieved = r.run < this.cfg.busyRun && r.share > this.cfg.openAboveShare
    const next = this.open ? !starved : relieved
    if (next === this.open) return false
    this.open = next
    return true
  }
}

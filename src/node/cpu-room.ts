/**
 * Watches whether this host's CPU has room for compressed chunks: reads the
 * network thread's scheduler counters (thread-cpu.ts) every so often, feeds
 * them to the CompressionGate (the decision, pure) and reports a change.
 */
import { CompressionGate, type CpuReading, type CpuSample } from '../policy/compression-gate.js'
import { threadCpuClock } from './thread-cpu.js'

const SAMPLE_EVERY_MS = 500

export interface CpuRoomOptions {
  /** The thread's counters (default: /proc/thread-self/schedstat; none there: always room). */
  clock?: () => CpuSample | undefined
  /** Never close (the operator knows the link is the limit). */
  always?: boolean
  onChange: (room: boolean, reading: CpuReading) => void
}

export interface CpuRoomReport {
  /** This host takes compressed chunks now. */
  compressedChunks: boolean
  /** Of a core, what the network thread got while it wanted one, over the last window. */
  share?: number
  /** How often it wanted one. */
  demand?: number
  /** Started with --compress-always: the CPU is not watched. */
  always?: true
}

export class CpuRoom {
  private readonly gate: CompressionGate
  private readonly clock?: () => CpuSample | undefined
  private lastSample = -Infinity

  constructor (private readonly opts: CpuRoomOptions) {
    this.gate = new CompressionGate()
    this.clock = opts.always === true ? undefined : opts.clock ?? threadCpuClock()
  }

  get room (): boolean { return this.gate.open }

  tick (nowMs: number): void {
    if (this.clock == null || nowMs - this.lastSample < SAMPLE_EVERY_MS) return
    this.lastSample = nowMs
    const s = this.clock()
    if (s == null) return
    if (this.gate.sample(s) && this.gate.reading != null) this.opts.onChange(this.gate.open, this.gate.reading)
  }

  report (): CpuRoomReport {
    const r = this.gate.reading
    if (this.opts.always === true) return { compressedChunks: true, always: true }
    return { compressedChunks: this.gate.open, ...(r != null ? { share: round2(r.share), demand: round2(r.demand) } : {}) }
  }
}

function round2 (x: number): number { return Math.round(x * 100) / 100 }

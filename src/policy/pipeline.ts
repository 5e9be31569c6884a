/**
 * Per-peer request pipeline arithmetic: a rate meter that counts only the
 * time a peer had our requests queued, the depth that keeps its link busy,
 * and the deadline after which a request is re-issued elsewhere.
 */

/** Weight kept by older samples at each new chunk (memory of about ten chunks). */
const RATE_DECAY = 0.9

/**
 * Bytes per second a peer delivers while it has our requests queued. Idle
 * time (nothing asked) is not counted, so a peer we rarely ask is not judged
 * slow; time spent on requests that expire is counted with no bytes.
 */
export class RateMeter {
  private bytes = 0
  private ms = 0
  private busySince = -1

  /** A request was queued at `now`; the peer is busy from then on. */
  busy (now: number): void {
    if (this.busySince < 0) this.busySince = now
  }

  /** A chunk of `bytes` arrived; `stillBusy` when more requests remain queued. */
  sample (bytes: number, now: number, stillBusy: boolean): void {
    const dt = this.busySince >= 0 ? Math.max(0, now - this.busySince) : 0
    this.bytes = this.bytes * RATE_DECAY + bytes
    this.ms = this.ms * RATE_DECAY + dt
    this.busySince = stillBusy ? now : -1
  }

  /** Requests were dropped without an answer: the time counts, with no bytes. */
  stall (now: number, stillBusy: boolean): void {
    if (this.busySince >= 0) this.ms += Math.max(0, now - this.busySince)
    this.busySince = stillBusy ? now : -1
  }

  /** Its queue emptied for reasons not its own (a request cancelled): stop the clock without judging. */
  idle (): void {
    this.busySince = -1
  }

  /** 0 until the first chunk arrives. */
  get rate (): number {
    if (this.bytes === 0) return 0
    return this.bytes * 1000 / Math.max(this.ms, 1)
  }
}

export interface PipelineParams {
  minPipeline: number
  maxPipeline: number
  initialPipeline: number
  pipelineQueueMs: number
}

/**
 * Requests to keep outstanding at a peer: the bandwidth-delay product
 * (rate x (rtt + queue time)) in chunks, plus the one being transferred,
 * within [minPipeline, maxPipeline].
 */
export function pipelineDepth (rate: number, rttMs: number, chunkBytes: number, p: PipelineParams): number {
  let depth = p.initialPipeline
  if (rate > 0) depth = Math.ceil(rate * (rttMs + p.pipelineQueueMs) / 1000 / chunkBytes) + 1
  return Math.max(p.minPipeline, Math.min(p.maxPipeline, depth))
}

/**
 * When a request sent at `sentAt` behind `ahead` others is overdue: the
 * service time of its place in the queue at the measured rate, times
 * `factor`, never below `floorMs`.
 */
export function requestDeadline (sentAt: number, ahead: number, rate: number, chunkBytes: number, floorMs: number, factor: number): number {
  const expected = rate > 0 ? (ahead + 1) * chunkBytes * 1000 / rate : 0
  return sentAt + Math.max(floorMs, factor * expected)
}

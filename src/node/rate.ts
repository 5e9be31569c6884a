/**
 * Bytes per second, smoothed exponentially so one burst doesn't reorder the
 * choker's ranking; `tauMs` is about how far back it remembers.
 */
export class RateMeter {
  private pending = 0
  private rate = 0
  private last: number
  total = 0

  constructor (now: number, private readonly tauMs = 5000) {
    this.last = now
  }

  add (bytes: number): void {
    this.pending += bytes
    this.total += bytes
  }

  /** Current rate in bytes/s, folding in what arrived since the last call. */
  sample (now: number): number {
    const dt = now - this.last
    if (dt <= 0) return this.rate
    const inst = this.pending * 1000 / dt
    const alpha = 1 - Math.exp(-dt / this.tauMs)
    this.rate += alpha * (inst - this.rate)
    this.pending = 0
    this.last = now
    return this.rate
  }
}

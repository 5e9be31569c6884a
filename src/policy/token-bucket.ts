/**
 * A byte-rate cap as a token bucket, pure: the caller passes the time. Each
 * send reserves its bytes at once and is told how long to wait first, so the
 * senders of all links share one rate in the order they asked, and a send
 * larger than the burst still goes (it waits for the debt it makes).
 */
export class TokenBucket {
  private tokens: number
  private lastMs: number

  /**
   * @param bytesPerMs the rate
   * @param burstBytes what may go at once after a quiet spell
   */
  constructor (private readonly bytesPerMs: number, private readonly burstBytes: number, nowMs: number) {
    if (!(bytesPerMs > 0) || !(burstBytes > 0)) throw new Error('a token bucket needs a rate and a burst above 0')
    this.tokens = burstBytes
    this.lastMs = nowMs
  }

  /** Take `bytes`; returns the ms to wait before sending them (0: at once). */
  reserve (bytes: number, nowMs: number): number {
    this.refill(nowMs)
    this.tokens -= bytes
    return this.tokens >= 0 ? 0 : -this.tokens / this.bytesPerMs
  }

  /** Bytes that may go now without waiting; negative while an earlier reservation is still being paid for. */
  available (nowMs: number): number {
    this.refill(nowMs)
    return this.tokens
  }

  private refill (nowMs: number): void {
    if (nowMs > this.lastMs) {
      this.tokens = Math.min(this.burstBytes, this.tokens + (nowMs - this.lastMs) * this.bytesPerMs)
      this.lastMs = nowMs
    }
  }
}

/**
 * Holds a sender to a rate: each send books its bytes and learns how long to
 * wait before it goes, so sends from many links share the rate in turn. Pure
 * (the caller passes the clock): the uploader and the tests drive it alike.
 * A send after an idle spell goes at once; idle time is not saved up.
 */
export class SendPacer {
  /** When (ms) the bytes booked so far have gone at the rate. */
  private freeAt = -Infinity

  /** Books `bytes` at `rateBps` (bits/s; not finite or <= 0: no limit) and returns the ms to wait first. */
  reserve (now: number, bytes: number, rateBps: number): number {
    if (!(rateBps > 0) || !Number.isFinite(rateBps)) {
      this.freeAt = now
      return 0
    }
    const start = Math.max(now, this.freeAt)
    this.freeAt = start + bytes * 8 / rateBps * 1000
    return start - now
  }
}

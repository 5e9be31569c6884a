/**
 * What each simulated host knows of its own download: the bytes it received,
 * its rate over its last rechoke intervals against its link, and whether
 * that leaves it underfed. Only experimental chokers read the verdict
 * (`--variant feed-underfed`, bench/sim/variants.ts); the policy does not.
 */

/**
 * Thresholds as fractions of a host's link, with hysteresis so the verdict
 * does not flap on one slow chunk. Measured with the variant
 * (bench/sim/FINDINGS.md 11): 0.88 / 0.95 and 0.92 / 0.97 did worse on the
 * paper's two zones.
 */
const UNDERFED_BELOW = 0.95
const FED_ABOVE = 0.98

export class FedJudge {
  private readonly received_: Float64Array
  private readonly mark: Float64Array
  private readonly rate: Float64Array
  private readonly flag: Uint8Array

  /** `link`: each host's download capacity in bytes/s. */
  constructor (hosts: number, private readonly link: number) {
    this.received_ = new Float64Array(hosts)
    this.mark = new Float64Array(hosts)
    this.rate = new Float64Array(hosts)
    this.flag = new Uint8Array(hosts)
  }

  received (host: number, bytes: number): void { this.received_[host] += bytes }

  /**
   * At the host's rechoke, `dt` seconds after its last: its rate since then,
   * averaged with the one before. `judging` is false before a host has
   * pulled for a while and after it is done: then it is never underfed.
   */
  judge (host: number, dt: number, judging: boolean): void {
    const r = (this.received_[host] - this.mark[host]) / dt
    this.mark[host] = this.received_[host]
    this.rate[host] = this.rate[host] === 0 ? r : 0.5 * this.rate[host] + 0.5 * r
    if (!judging) this.flag[host] = 0
    else if (this.rate[host] < UNDERFED_BELOW * this.link) this.flag[host] = 1
    else if (this.rate[host] > FED_ABOVE * this.link) this.flag[host] = 0
  }

  underfed (host: number): boolean { return this.flag[host] === 1 }
}

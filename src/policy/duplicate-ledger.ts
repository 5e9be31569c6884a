/**
 * Why a chunk arrived twice. A second copy is bytes a peer uploaded and we
 * received for nothing, and at the cluster's rates receiving is the dearest
 * thing a daemon does (bench/cluster/FINDINGS.md, session 13). A copy can only
 * come from a request made while another was outstanding, or made after one
 * was released while its chunk was still on its way; the ledger remembers
 * the last such reason per chunk and charges each duplicate to it.
 */

/** What made the policy ask a second peer for a chunk (or release a request that may still be answered). */
export type ReissueCause =
  /** The request outlived its deadline (requestDeadline) and went elsewhere. */
  | 'timeout'
  /** The peer choked us: its queued requests went elsewhere at once, the one it was serving once overdue. */
  | 'choked'
  /** Asked of the origin, then withdrawn because a peer announced the chunk. */
  | 'withdrawn'
  /** End game asked a second or third peer on purpose. */
  | 'endGame'

export type DuplicateCounts = Record<ReissueCause | 'unexplained', number>

const CAUSES: ReissueCause[] = ['timeout', 'choked', 'withdrawn', 'endGame']

export function totalDuplicates (counts: Partial<DuplicateCounts>): number {
  return Object.values(counts).reduce((a, b) => a + (b ?? 0), 0)
}

/** "timeout 3, endGame 1": the causes that occurred, for logs and reports. */
export function describeDuplicates (counts: Partial<DuplicateCounts>): string {
  return Object.entries(counts).filter(([, n]) => (n ?? 0) > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'
}

export class DuplicateLedger {
  /** Per chunk: 0 for none, else 1 + the index of its last cause in CAUSES. */
  private readonly last: Uint8Array
  private readonly counts: DuplicateCounts = { timeout: 0, choked: 0, withdrawn: 0, endGame: 0, unexplained: 0 }

  constructor (chunkCount: number) {
    this.last = new Uint8Array(chunkCount)
  }

  mark (chunk: number, cause: ReissueCause): void {
    this.last[chunk] = CAUSES.indexOf(cause) + 1
  }

  /** A copy of `chunk` arrived after we held it. */
  charge (chunk: number): void {
    const i = this.last[chunk] ?? 0
    if (i === 0) this.counts.unexplained++
    else this.counts[CAUSES[i - 1]]++
  }

  snapshot (): DuplicateCounts {
    return { ...this.counts }
  }
}

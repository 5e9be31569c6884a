/**
 * What the simulator needs from a policy: one DownloadPolicy per host, a
 * Choker per node and, optionally, an OriginPolicy for the front-end. The
 * swarm kit binds src/policy; the baseline kit (baseline.ts) gives the
 * closed-form cases.
 */
import type { Choker, DownloadPolicyOptions, DownloadPolicy, OriginPolicy, Rng } from '../policy/types.js'

export interface PolicyKit {
  download (opts: DownloadPolicyOptions, host: number): DownloadPolicy
  /** host is -1 for the front-end. */
  choker (host: number, rng: Rng): Choker
  /** undefined: the front-end announces its whole bitfield like any seed. */
  origin (chunkCount: number, rng: Rng): OriginPolicy | undefined
  /** Host-to-host neighbour graph: random bounded (default), a chain, or none (unicast). */
  readonly graph?: 'random' | 'chain' | 'none'
}

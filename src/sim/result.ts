/** One run's figures, as printed by `imgp2p simulate --json`. */
import type { NetworkStats } from './network.js'
import type { Scenario } from './scenario.js'

export interface SimResult {
  scenario: string
  policy: string
  hosts: number
  imageBytes: number
  chunkBytes: number
  chunkCount: number
  seed: number
  completed: boolean
  hostsDone: number
  makespanSeconds: number
  tMinSeconds: number
  /** makespan / T_min; 1.0 is perfect. */
  makespanRatio: number
  meanSeconds: number
  minSeconds: number
  p50Seconds: number
  p95Seconds: number
  stdSeconds: number
  /** Last minus first host completion. */
  spreadSeconds: number
  frontEndBytes: number
  frontEndRatio: number
  interZoneBytes: number
  interZoneRatio: number
  duplicateBytes: number
  deliveries: number
  requests: number
  droppedRequests: number
  events: number
  rateSolves: number
  globalSolves: number
  flowsResolved: number
  simSeconds: number
  wallSeconds: number
  perHostSeconds?: number[]
}

export interface RunTotals {
  scenario: Scenario
  chunkCount: number
  tMinSeconds: number
  doneAt: Float64Array
  frontEndBytes: number
  interZoneBytes: number
  duplicateBytes: number
  deliveries: number
  events: number
  requests: number
  droppedRequests: number
  solves: NetworkStats
  completed: boolean
  simSeconds: number
  wallSeconds: number
  perHost: boolean
}

export function summarize (r: RunTotals): SimResult {
  const s = r.scenario
  const done = Array.from(r.doneAt).filter(x => x >= 0).sort((a, b) => a - b)
  const n = done.length
  const mean = n === 0 ? NaN : done.reduce((a, b) => a + b, 0) / n
  const std = n === 0 ? NaN : Math.sqrt(done.reduce((a, b) => a + (b - mean) ** 2, 0) / n)
  const q = (p: number): number => n === 0 ? NaN : done[Math.min(n - 1, Math.floor(p * n))]
  const makespan = r.completed && n > 0 ? done[n - 1] : NaN
  const out: SimResult = {
    scenario: s.name,
    policy: s.policy,
    hosts: s.hosts,
    imageBytes: s.imageBytes,
    chunkBytes: s.chunkBytes,
    chunkCount: r.chunkCount,
    seed: s.seed,
    completed: r.completed,
    hostsDone: n,
    makespanSeconds: round(makespan),
    tMinSeconds: round(r.tMinSeconds),
    makespanRatio: round(makespan / r.tMinSeconds, 4),
    meanSeconds: round(mean),
    minSeconds: round(n === 0 ? NaN : done[0]),
    p50Seconds: round(q(0.5)),
    p95Seconds: round(q(0.95)),
    stdSeconds: round(std),
    spreadSeconds: round(n === 0 ? NaN : done[n - 1] - done[0]),
    frontEndBytes: r.frontEndBytes,
    frontEndRatio: round(r.frontEndBytes / s.imageBytes, 4),
    interZoneBytes: r.interZoneBytes,
    interZoneRatio: round(r.interZoneBytes / s.imageBytes, 4),
    duplicateBytes: r.duplicateBytes,
    deliveries: r.deliveries,
    requests: r.requests,
    droppedRequests: r.droppedRequests,
    events: r.events,
    rateSolves: r.solves.solves,
    globalSolves: r.solves.globalSolves,
    flowsResolved: r.solves.flowsResolved,
    simSeconds: round(r.simSeconds),
    wallSeconds: round(r.wallSeconds, 2)
  }
  if (r.perHost) out.perHostSeconds = Array.from(r.doneAt, x => round(x))
  return out
}

function round (x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x
  const f = 10 ** digits
  return Math.round(x * f) / f
}

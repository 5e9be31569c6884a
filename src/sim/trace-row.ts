/** A traced run's periodic sample of throughput and progress (simulateTraced, bench/sim/trace.ts). */
import type { DownloadPolicy } from '../policy/types.js'
import type { FlowNetwork } from './network.js'
import type { Scenario } from './scenario.js'
import type { Topology } from './topology.js'

/** One sample of a traced run; rates in Gbit/s, progress as the fraction of chunks held. */
export interface TraceRow {
  t: number
  hostUploadGbps: number
  frontEndGbps: number
  interZoneGbps: number
  activeFlows: number
  /** Per zone: mean fraction of the image held. */
  zoneProgress: number[]
  /** Per zone: hosts done. */
  zoneDone: number[]
  /** Hosts still downloading, and how many of them get less than 90% of their download capacity. */
  downloading: number
  underfed: number
  /** Lowest and 10th-percentile download rate among hosts still downloading. */
  minDownGbps: number
  p10DownGbps: number
  /** Mean number of peers unchoking a host that is still downloading. */
  meanUnchokers: number
}


/** The engine state a sample reads. */
export interface TraceView {
  s: Scenario
  topo: Topology
  net: FlowNetwork
  policies: DownloadPolicy[]
  /** When each host finished (s), or < 0. */
  doneAt: Float64Array
  /** Per directed connection: 1 while its sender chokes it. */
  choked: Uint8Array
  chunkCount: number
}

export function traceRow (e: TraceView, t: number): TraceRow {
  const N = e.s.hosts
  const M = e.topo.nodes
  const Z = e.topo.zoneCount
  let up = 0
  for (let i = 0; i < N; i++) up += e.net.linkLoad(i)
  let iz = 0
  for (let z = 0; z < Z; z++) iz += e.net.linkLoad(2 * M + z)
  const progress = new Array<number>(Z).fill(0)
  const done = new Array<number>(Z).fill(0)
  const size = new Array<number>(Z).fill(0)
  for (let i = 0; i < N; i++) {
    const z = e.s.zoneOf[i]
    size[z]++
    progress[z] += e.policies[i].have.count / e.chunkCount
    if (e.doneAt[i] >= 0) done[z]++
  }
  const g = (x: number): number => Math.round(x * 8e-9 * 1000) / 1000
  const downs: number[] = []
  let unchokers = 0
  for (let i = 0; i < N; i++) {
    if (e.doneAt[i] >= 0) continue
    downs.push(e.net.linkLoad(M + i))
    for (let c = e.topo.connStart[i]; c < e.topo.connStart[i + 1]; c++) if (e.choked[e.topo.rev[c]] === 0) unchokers++
  }
  downs.sort((a, b) => a - b)
  return {
    downloading: downs.length,
    underfed: downs.filter(d => d < 0.9 * e.s.hostDownload).length,
    minDownGbps: g(downs[0] ?? 0),
    p10DownGbps: g(downs[Math.floor(downs.length * 0.1)] ?? 0),
    meanUnchokers: Math.round(unchokers / Math.max(1, downs.length) * 100) / 100,
    t: Math.round(t * 1000) / 1000,
    hostUploadGbps: g(up),
    frontEndGbps: g(e.net.linkLoad(N)),
    interZoneGbps: g(iz),
    activeFlows: e.net.activeFlows,
    zoneProgress: progress.map((p, z) => Math.round(p / Math.max(1, size[z]) * 1000) / 1000),
    zoneDone: done
  }
}

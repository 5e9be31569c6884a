/**
 * Who trades with whom and which links a transfer crosses.
 *
 * Nodes 0..N-1 are hosts, node N is the front-end. Every host knows every
 * other (the daemon learns them by gossip) but trades over a bounded
 * neighbour set: each host opens `ceil(peerCount/2)` connections, drawn from
 * its own zone with probability `sameZoneFraction` and from anywhere
 * otherwise, and accepts those of others, so degrees average `peerCount`.
 * The front-end is connected to every host.
 *
 * Connections are directed (uploader -> downloader) and numbered in CSR
 * order: node u's outgoing connections are connStart[u]..connStart[u+1]-1,
 * and rev[c] is the opposite direction. A connection id is also the id of
 * the flow that carries its chunks.
 *
 * Links: node u's uplink is u, its downlink M+u (M = N+1); zone z's uplink
 * to the core is 2M+z and its downlink 2M+Z+z. With two zones the pair is
 * the inter-switch link, one capacity per direction.
 */
import type { Scenario } from './scenario.js'
import { mulberry32 } from './rng.js'
import { shuffle } from '../policy/rng.js'

export interface Topology {
  hosts: number
  origin: number
  nodes: number
  zoneOfNode: Int32Array
  connStart: Int32Array
  peer: Int32Array
  owner: Int32Array
  rev: Int32Array
  linkCaps: Float64Array
  zoneCount: number
}

export function buildTopology (s: Scenario, graph: 'random' | 'chain' | 'none'): Topology {
  const N = s.hosts
  const M = N + 1
  const origin = N
  const Z = s.zoneCount
  const zoneOfNode = new Int32Array(M)
  zoneOfNode.set(s.zoneOf)
  zoneOfNode[origin] = s.frontEndZone

  const adj: Array<Set<number>> = Array.from({ length: M }, () => new Set())
  const link = (a: number, b: number): void => { adj[a].add(b); adj[b].add(a) }
  for (let i = 0; i < N; i++) link(origin, i)
  if (graph === 'chain') {
    for (let i = 1; i < N; i++) link(i - 1, i)
  } else if (graph === 'random') {
    randomGraph(s, adj)
  }

  const connStart = new Int32Array(M + 1)
  for (let u = 0; u < M; u++) connStart[u + 1] = connStart[u] + adj[u].size
  const C = connStart[M]
  const peer = new Int32Array(C)
  const owner = new Int32Array(C)
  const index = new Map<number, number>()
  for (let u = 0; u < M; u++) {
    let c = connStart[u]
    for (const v of [...adj[u]].sort((a, b) => a - b)) {
      peer[c] = v
      owner[c] = u
      index.set(u * M + v, c)
      c++
    }
  }
  const rev = new Int32Array(C)
  for (let c = 0; c < C; c++) rev[c] = index.get(peer[c] * M + owner[c])!

  const linkCaps = new Float64Array(2 * M + 2 * Z)
  for (let i = 0; i < N; i++) { linkCaps[i] = s.hostUpload; linkCaps[M + i] = s.hostDownload }
  linkCaps[origin] = s.frontEndUpload
  linkCaps[M + origin] = s.frontEndDownload
  for (let z = 0; z < Z; z++) { linkCaps[2 * M + z] = s.zoneUplink; linkCaps[2 * M + Z + z] = s.zoneDownlink }
  return { hosts: N, origin, nodes: M, zoneOfNode, connStart, peer, owner, rev, linkCaps, zoneCount: Z }
}

/** Fill `out` with the links a transfer from u to v crosses; returns how many. */
export function linksOf (t: Topology, u: number, v: number, out: Int32Array): number {
  const M = t.nodes
  out[0] = u
  out[1] = M + v
  let n = 2
  const zu = t.zoneOfNode[u]
  const zv = t.zoneOfNode[v]
  if (zu !== zv) {
    if (zu >= 0) out[n++] = 2 * M + zu
    if (zv >= 0) out[n++] = 2 * M + t.zoneCount + zv
  }
  return n
}

function randomGraph (s: Scenario, adj: Array<Set<number>>): void {
  const N = s.hosts
  const rng = mulberry32(s.seed ^ 0x5eed)
  if (N - 1 <= s.peerCount) {
    for (let a = 0; a < N; a++) for (let b = a + 1; b < N; b++) { adj[a].add(b); adj[b].add(a) }
    return
  }
  const byZone: number[][] = Array.from({ length: s.zoneCount }, () => [])
  for (let i = 0; i < N; i++) byZone[s.zoneOf[i]].push(i)
  if (s.acceptSlack !== undefined) { cappedGraph(s, adj, byZone, rng); return }
  const opens = Math.ceil(s.peerCount / 2)
  for (let a = 0; a < N; a++) {
    const own = byZone[s.zoneOf[a]]
    let made = 0
    for (let tries = 0; made < opens && tries < opens * 20; tries++) {
      const local = rng() < s.sameZoneFraction && own.length > 1
      const b = local ? own[Math.floor(rng() * own.length)] : Math.floor(rng() * N)
      if (b === a || adj[a].has(b)) continue
      adj[a].add(b)
      adj[b].add(a)
      made++
    }
  }
}

/**
 * The daemon's link caps: every host dials until it has peerCount links and
 * accepts while it has fewer than peerCount + acceptSlack. Hosts dial in
 * turns, one link each, as hosts that start together do. One cap for all
 * zones: the daemon's separate cap on far links is not modelled.
 */
function cappedGraph (s: Scenario, adj: Array<Set<number>>, byZone: number[][], rng: () => number): void {
  const N = s.hosts
  const most = s.peerCount + (s.acceptSlack ?? 0)
  // Every host is linked to the front-end already (node N); the caps count peers only.
  const peers = (u: number): number => adj[u].size - 1
  const order = shuffle(Array.from({ length: N }, (_, i) => i), rng)
  for (let dialled = true; dialled;) {
    dialled = false
    for (const a of order) {
      if (peers(a) >= s.peerCount) continue
      const own = byZone[s.zoneOf[a]]
      for (let tries = 0; tries < N * 20; tries++) {
        const local = rng() < s.sameZoneFraction && own.length > 1
        const b = local ? own[Math.floor(rng() * own.length)] : Math.floor(rng() * N)
        if (b === a || adj[a].has(b) || peers(b) >= most) continue
        adj[a].add(b)
        adj[b].add(a)
        dialled = true
        break
      }
    }
  }
}

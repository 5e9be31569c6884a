import { describe, expect, it } from 'vitest'
import { FlowNetwork } from '../src/sim/network.js'
import { IndexedHeap, EventQueue } from '../src/sim/heap.js'
import { tMin } from '../src/sim/bound.js'
import { parseRate } from '../src/sim/units.js'
import { parseSize } from '../src/util/size.js'
import { buildTopology } from '../src/sim/topology.js'
import { loadScenarioFile, resolveScenario, type Scenario } from '../src/sim/scenario.js'

describe('max-min rates', () => {
  it('shares one link equally', () => {
    const net = new FlowNetwork([90], 8)
    for (let f = 0; f < 3; f++) net.start(f, [0], 1, 90, 0)
    net.settle(0)
    expect([net.rate(0), net.rate(1), net.rate(2)]).toEqual([30, 30, 30])
    expect(net.completions.peekKey()).toBeCloseTo(3)
  })

  it('gives a flow bottlenecked elsewhere less and the rest more', () => {
    // link 0 cap 10 shared by flows 0,1; flow 1 also crosses link 1 (cap 2).
    const net = new FlowNetwork([10, 2], 4)
    net.start(0, [0], 1, 100, 0)
    net.start(1, [0, 1], 2, 100, 0)
    net.settle(0)
    expect(net.rate(1)).toBeCloseTo(2)
    expect(net.rate(0)).toBeCloseTo(8)
  })

  it('updates incrementally through a chain of links and back when a flow stops', () => {
    // Links a(10) b(10) c(10); flows: x on a; y on a,b; z on b,c; w on c.
    const net = new FlowNetwork([10, 10, 10], 8)
    net.start(0, [0], 1, 1e9, 0)
    net.start(1, [0, 1], 2, 1e9, 0)
    net.start(2, [1, 2], 2, 1e9, 0)
    net.start(3, [2], 1, 1e9, 0)
    net.settle(0)
    for (let f = 0; f < 4; f++) expect(net.rate(f)).toBeCloseTo(5)
    net.start(4, [0], 1, 1e9, 1)
    net.settle(1)
    // a now has x, y, new: 10/3 each; b: z gets 10 - 10/3, capped by c at 5; w 5.
    expect(net.rate(1)).toBeCloseTo(10 / 3)
    expect(net.rate(2)).toBeCloseTo(5)
    net.stop(3, 2)
    net.settle(2)
    expect(net.rate(2)).toBeCloseTo(10 - 10 / 3)
    net.stop(4, 3)
    net.stop(0, 3)
    net.settle(3)
    expect(net.rate(1)).toBeCloseTo(5)
    expect(net.rate(2)).toBeCloseTo(5)
  })

  it('keeps bytes moved across rate changes', () => {
    const net = new FlowNetwork([10], 4)
    net.start(0, [0], 1, 100, 0)
    net.settle(0)
    net.start(1, [0], 1, 100, 5) // flow 0 has 50 left, now at 5/s
    net.settle(5)
    expect(net.completions.peekKey()).toBeCloseTo(15)
  })
})

describe('heaps', () => {
  it('orders flows by key with updates and removals', () => {
    const h = new IndexedHeap(10)
    h.set(3, 5); h.set(1, 2); h.set(7, 9); h.set(1, 10); h.remove(3)
    expect(h.peekId()).toBe(7)
    h.set(3, 1)
    expect(h.peekId()).toBe(3)
  })

  it('pops events in time order, FIFO on ties', () => {
    const q = new EventQueue()
    for (let i = 0; i < 3000; i++) q.push((i * 7919) % 1000, 1, i, 0)
    let last = -1
    let lastA = -1
    while (q.size > 0) {
      const s = q.pop()
      const t = q.at(s)
      expect(t).toBeGreaterThanOrEqual(last)
      if (t === last) expect(q.a(s)).toBeGreaterThan(lastA)
      last = t; lastA = q.a(s)
    }
  })
})

describe('T_min (Kumar and Ross)', () => {
  const G = 125e6
  it('is download-bound for the paper testbed', () => {
    const S = 9.77e9
    const t = tMin({ imageBytes: S, sourceUpload: 10 * G, hostDownloads: new Array(72).fill(G), hostUploads: new Array(72).fill(G) })
    expect(t).toBeCloseTo(S / G)
  })
  it('is source-bound when the source is slow', () => {
    expect(tMin({ imageBytes: 100, sourceUpload: 1, hostDownloads: [10, 10], hostUploads: [10, 10] })).toBe(100)
  })
  it('is upload-bound when hosts upload little', () => {
    // N*S/(u_s + sum u) = 4*100/(10+4*1) = 28.57 > S/d = 10, S/u_s = 10
    expect(tMin({ imageBytes: 100, sourceUpload: 10, hostDownloads: [10, 10, 10, 10], hostUploads: [1, 1, 1, 1] })).toBeCloseTo(400 / 14)
  })
  it('takes the slowest download', () => {
    expect(tMin({ imageBytes: 100, sourceUpload: 100, hostDownloads: [50, 5], hostUploads: [50, 50] })).toBe(20)
  })
})

describe('units', () => {
  it('reads sizes and rates', () => {
    expect(parseSize('9.77GB')).toBe(9.77e9)
    expect(parseSize('899MB')).toBe(899e6)
    expect(parseSize('1MiB')).toBe(1048576)
    expect(parseSize('256KiB')).toBe(262144)
    expect(parseRate('1Gbit/s')).toBe(125e6)
    expect(parseRate('10Gbps')).toBe(1.25e9)
    expect(parseRate('125MB/s')).toBe(125e6)
  })
})

describe('neighbour graphs', () => {
  /** Each host's peers (the front-end, connected to all, left out). */
  const neighbours = (s: Scenario): Array<Set<number>> => {
    const t = buildTopology(s, 'random')
    return Array.from({ length: s.hosts }, (_, u) => new Set([...t.peer.subarray(t.connStart[u], t.connStart[u + 1])].filter(v => v !== t.origin)))
  }
  const degrees = (s: Scenario): number[] => neighbours(s).map(n => n.size)

  it('with acceptSlack, keeps every host within the daemon\'s link caps', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const s = resolveScenario(loadScenarioFile('cluster-b50-loaded'), { hosts: 24, seed })
      expect(s.acceptSlack).toBe(4)
      const n = neighbours(s)
      for (let u = 0; u < n.length; u++) {
        expect(n[u].size).toBeLessThanOrEqual(14)
        // Below the dial cap only when every other host is full, as a daemon would be.
        if (n[u].size < 10) for (let v = 0; v < n.length; v++) if (v !== u && !n[u].has(v)) expect(n[v].size).toBe(14)
      }
      expect(n.filter(x => x.size >= 10).length).toBeGreaterThanOrEqual(22)
    }
  })

  it('without it, opens half the count per host, so degrees spread around the count', () => {
    const s = resolveScenario(loadScenarioFile('cluster-b50-loaded'), { hosts: 24, seed: 1 })
    const d = degrees({ ...s, peerCount: 12, acceptSlack: undefined })
    expect(d.reduce((a, b) => a + b, 0) / d.length).toBeCloseTo(12, 0)
    expect(Math.min(...d)).toBeLessThan(10)
    expect(Math.max(...d)).toBeGreaterThan(14)
  })
})

import { describe, expect, it } from 'vitest'
import { createDownloadPolicy, endGameThreshold, pipelineDepth, seededRng, DEFAULT_DOWNLOAD_CONFIG } from '../src/policy/index.js'
import type { DownloadPolicy } from '../src/policy/index.js'
import { Bitfield } from '../src/util/bitfield.js'
import { MiB, bits, chunks, only, setupPicker } from './policy-fixtures.js'

const deep = { initialPipeline: 32, maxPipeline: 32 }

describe('rarest first', () => {
  it('picks the least available chunks first', () => {
    const f = setupPicker('3121', '', { config: deep })
    only(f, 'p0')
    const picked = chunks(f.dp.pick(0))
    expect(picked.slice(0, 2).sort()).toEqual([1, 3])
    expect(picked.slice(2)).toEqual([2, 0])
  })

  it('"2223333": the three 2s before any 3', () => {
    const f = setupPicker('2223333', '', { config: deep })
    only(f, 'p0')
    const picked = chunks(f.dp.pick(0))
    expect(picked.slice(0, 3).sort()).toEqual([0, 1, 2])
    expect(picked).toHaveLength(7)
  })

  it('never picks a chunk we have', () => {
    const f = setupPicker('2222', '* * ', { config: { ...deep, endGameThreshold: 0 } })
    expect(chunks(f.dp.pick(0)).sort()).toEqual([1, 3])
  })

  it('breaks ties at random (differs between seeds)', () => {
    const first = new Set<number>()
    for (let seed = 1; seed <= 20; seed++) {
      const f = setupPicker('1111111111', '', { seed, config: { initialPipeline: 1, minPipeline: 1 } })
      first.add(f.dp.pick(0)[0].chunk)
    }
    expect(first.size).toBeGreaterThan(3)
  })

  it('is reproducible from the seed', () => {
    const a = chunks(setupPicker('1111111111', '', { seed: 7, config: deep }).dp.pick(0))
    const b = chunks(setupPicker('1111111111', '', { seed: 7, config: deep }).dp.pick(0))
    expect(a).toEqual(b)
  })

  it('follows availability as HAVEs arrive', () => {
    const f = setupPicker('1111', '', { config: { initialPipeline: 1, minPipeline: 1 } })
    f.dp.addPeer('q', {}, 0)
    f.dp.onChoke('q', true, 0)
    for (const c of [0, 1, 3]) f.dp.onHave('q', c) // chunk 2 is now the only one with availability 1
    expect(chunks(f.dp.pick(0))).toEqual([2])
  })
})

/** Two chunks held by an in-zone peer that chokes us and an unchoked peer of another zone (starveMs 500). */
function chokedOutByNear (): DownloadPolicy {
  const dp = createDownloadPolicy({ chunkCount: 2, chunkBytes: MiB, have: new Bitfield(2), zone: 'a', rng: seededRng(3), config: { randomFirstPicks: 0, starveMs: 500 } })
  dp.addPeer('near', { zone: 'a' }, 0)
  dp.addPeer('far', { zone: 'b' }, 0)
  dp.onBitfield('near', bits('**'))
  dp.onBitfield('far', bits('**'))
  dp.onChoke('near', true, 0)
  return dp
}

describe('a budget (the download cap)', () => {
  it('picks at most `limit` requests, and the rest on later calls, as the unbounded pick would', () => {
    const bounded = setupPicker('3121', '', { config: deep })
    const free = setupPicker('3121', '', { config: deep })
    only(bounded, 'p0')
    only(free, 'p0')
    const first = chunks(bounded.dp.pick(0, 2))
    expect(first).toHaveLength(2)
    expect(chunks(bounded.dp.pick(0, 0))).toEqual([])
    const rest = chunks(bounded.dp.pick(0, 5))
    expect([...first, ...rest]).toEqual(chunks(free.dp.pick(0)))
  })

  it('a pick with no budget does not count as starving, and a starved pick keeps to the budget', () => {
    const dp = chokedOutByNear()
    for (let t = 0; t <= 1000; t += 100) expect(dp.pick(t, 0)).toEqual([])
    // The starvation clock starts at the first pick with a budget.
    expect(dp.pick(1000, 8)).toEqual([])
    expect(dp.pick(1499, 8)).toEqual([])
    expect(dp.pick(1500, 1)).toHaveLength(1)
    // One is outstanding now: the next starved pick waits for it, as without a budget.
    expect(dp.pick(1500, 8)).toEqual([])
  })
})

describe('random first picks', () => {
  it('takes the first chunks at random, not rarest first', () => {
    const firsts = new Set<number>()
    for (let seed = 1; seed <= 20; seed++) {
      const f = setupPicker('1' + '5'.repeat(19), '', { seed, config: { randomFirstPicks: 4, initialPipeline: 1, minPipeline: 1 } })
      only(f, 'p0')
      firsts.add(f.dp.pick(0)[0].chunk)
    }
    expect(firsts.size).toBeGreaterThan(5)
  })

  it('switches to rarest first once randomFirstPicks chunks are held', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const f = setupPicker('1' + '5'.repeat(19), ' '.repeat(16) + '****', { seed, config: { randomFirstPicks: 4, initialPipeline: 1, minPipeline: 1 } })
      only(f, 'p0')
      expect(f.dp.pick(0)[0].chunk).toBe(0)
    }
  })
})

describe('released chunks first', () => {
  it('a chunk whose request was dropped is picked before rarer fresh chunks', () => {
    const f = setupPicker('2111', '', { config: { initialPipeline: 1, minPipeline: 1 } })
    only(f, 'p1')
    expect(chunks(f.dp.pick(0))).toEqual([0]) // p1 holds only chunk 0
    f.dp.onChoke('p1', true, 10)
    f.dp.onChoke('p0', false, 10)
    expect(chunks(f.dp.expire(5_000))).toEqual([0]) // kept past the choke, then given up
    expect(chunks(f.dp.pick(5_000))).toEqual([0]) // chunks 1..3 are rarer, but 0 was in flight
  })
})

describe('end game', () => {
  it('duplicates outstanding chunks to idle links once all are requested, and cancels the losers', () => {
    const f = setupPicker('2222', '', { config: { initialPipeline: 1, minPipeline: 1, maxPipeline: 1, endGameThreshold: 4, endGameFraction: 1 } })
    const first = f.dp.pick(0)
    expect(first).toHaveLength(2) // one each: nothing duplicated while chunks are unrequested
    expect(new Set(chunks(first)).size).toBe(2)
    const [a, b] = first
    f.dp.onReceived(a.peer, a.chunk, MiB, 5)
    f.dp.onReceived(b.peer, b.chunk, MiB, 5)
    const second = f.dp.pick(5) // two chunks left, one per peer, none duplicated yet
    expect(second).toHaveLength(2)
    const [c] = second
    f.dp.onReceived(c.peer, c.chunk, MiB, 9)
    // One chunk outstanding at the other peer, which delivers one per 5 ms: it is
    // due at 10 ms, so idle c.peer duplicates it only once it is overdue.
    const left = second[1]
    expect(f.dp.pick(9)).toEqual([])
    const dup = f.dp.pick(11)
    expect(dup).toEqual([{ peer: c.peer, chunk: left.chunk }])
    const cancels = f.dp.onReceived(c.peer, left.chunk, MiB, 12)
    expect(cancels).toEqual([{ peer: left.peer, chunk: left.chunk }])
    expect(f.dp.outstanding()).toEqual([])
    expect(f.dp.done).toBe(true)
    expect(f.dp.onReceived(left.peer, left.chunk, MiB, 13)).toEqual([]) // a late duplicate is harmless
  })

  it('duplicates at once a chunk left at a peer that choked us, without waiting for its due time', () => {
    const f = setupPicker('2222', '', { config: { initialPipeline: 1, minPipeline: 1, maxPipeline: 1, endGameThreshold: 4, endGameFraction: 1 } })
    for (const r of f.dp.pick(0)) f.dp.onReceived(r.peer, r.chunk, MiB, 5) // both peers now deliver one per 5 ms
    const [c, left] = f.dp.pick(5) // the last two chunks, one at each peer, due at 10 ms
    f.dp.onReceived(c.peer, c.chunk, MiB, 7)
    expect(f.dp.pick(7)).toEqual([]) // on time: nothing duplicated
    // Its peer chokes us: the request stays booked (it may be on the wire) but
    // is no longer expected on time, so the idle peer is asked now, not at 10 ms.
    f.dp.onChoke(left.peer, true, 8)
    expect(f.dp.pick(8)).toEqual([{ peer: c.peer, chunk: left.chunk }])
  })

  it('starts when the whole tail is queued at the full-service origin feeding us, and re-asks what it leaves overdue', () => {
    // The origin feeds us alone (our link is stated); p holds everything too.
    const dp = createDownloadPolicy({ chunkCount: 8, chunkBytes: MiB, have: new Bitfield(8), rng: seededRng(1), config: { randomFirstPicks: 0, downlinkBps: 80e6 } })
    dp.addPeer('origin', { origin: false, fullService: true, rttMs: 0.1 }, 0)
    dp.addPeer('p', { rttMs: 0.1 }, 0)
    for (const k of ['origin', 'p']) dp.onBitfield(k, bits('********'))
    let t = 0
    const asked = new Set(chunks(dp.pick(t)))
    while (asked.size < 8) { // 1 MiB per 100 ms, our whole link
      t += 100
      dp.onReceived('origin', dp.outstanding()[0].chunk, MiB, t)
      const next = dp.pick(t)
      expect(next.every(r => r.peer === 'origin')).toBe(true)
      for (const c of chunks(next)) asked.add(c)
    }
    // Every chunk asked for; the last three wait at the origin, which stalls.
    expect(dp.outstanding().map(r => r.peer)).toEqual(['origin', 'origin', 'origin'])
    expect(dp.pick(t + 50)).toEqual([]) // not overdue yet: a duplicate would only waste our link
    const dup = dp.pick(t + 400) // overdue, long before the requests expire (4 s)
    expect(dup).toHaveLength(1)
    expect(dup[0].peer).toBe('p')
  })

  it('leaves a tiny image to the feeding origin until it has delivered once', () => {
    const dp = createDownloadPolicy({ chunkCount: 3, chunkBytes: MiB, have: new Bitfield(3), rng: seededRng(1), config: { randomFirstPicks: 0, downlinkBps: 80e6 } })
    dp.addPeer('origin', { origin: false, fullService: true, rttMs: 0.1 }, 0)
    dp.addPeer('p', { rttMs: 0.1 }, 0)
    for (const k of ['origin', 'p']) dp.onBitfield(k, bits('***'))
    expect(dp.pick(0).map(r => r.peer)).toEqual(['origin', 'origin', 'origin'])
    expect(dp.pick(1)).toEqual([]) // no rate measured, so nothing is late: no duplicates
  })

  it('does not start while an unrequested chunk is left', () => {
    const f = setupPicker('2220', '', { config: { initialPipeline: 4, maxPipeline: 4 } })
    const reqs = f.dp.pick(0)
    expect(reqs).toHaveLength(3)
    expect(new Set(chunks(reqs)).size).toBe(3)
  })

  it('does not start above endGameThreshold outstanding', () => {
    const f = setupPicker('2222', '', { config: { initialPipeline: 3, minPipeline: 3, maxPipeline: 3, endGameThreshold: 3, endGameFraction: 1 } })
    expect(f.dp.pick(0)).toHaveLength(4)
  })

  it('a 64-chunk image is not in end game while most of it is outstanding (FINDINGS 1)', () => {
    // Default config: 64 chunks, four peers with deep pipelines request them all at once.
    const f = setupPicker('4'.repeat(64), '', { config: { initialPipeline: 32, maxPipeline: 32 } })
    const reqs = f.dp.pick(0)
    expect(new Set(chunks(reqs)).size).toBe(64)
    expect(reqs).toHaveLength(64) // no chunk asked twice
    // Half of them arrive: still 32 outstanding, far from the end.
    for (const r of reqs.slice(0, 32)) f.dp.onReceived(r.peer, r.chunk, MiB, 10)
    expect(f.dp.pick(10)).toEqual([])
  })

  it('starts at 2% of the image, at least two chunks, at most endGameThreshold', () => {
    const cfg = DEFAULT_DOWNLOAD_CONFIG
    expect(endGameThreshold(8, cfg)).toBe(2)
    expect(endGameThreshold(64, cfg)).toBe(2)
    expect(endGameThreshold(858, cfg)).toBe(18) // 899 MB at 1 MiB
    expect(endGameThreshold(9317, cfg)).toBe(64) // 9.77 GB
  })

  it('sends a duplicate only to an idle link, at most endGameMaxRequests per chunk', () => {
    // Chunks 0 and 1 outstanding at p0 (busy with both), p1 and p2 idle.
    const f = setupPicker('3333', '**', { config: { initialPipeline: 4, maxPipeline: 4, endGameThreshold: 4, endGameFraction: 1, endGameMaxRequests: 2 } })
    only(f, 'p0')
    expect(chunks(f.dp.pick(0)).sort()).toEqual([2, 3])
    f.dp.onChoke('p1', false, 1)
    f.dp.onChoke('p2', false, 1)
    const dups = f.dp.pick(1)
    // One duplicate per idle link (not two or four), each chunk asked twice at most.
    expect(dups).toHaveLength(2)
    expect(new Set(dups.map(r => r.peer))).toEqual(new Set(['p1', 'p2']))
    expect(chunks(dups).sort()).toEqual([2, 3])
    expect(f.dp.pick(2)).toEqual([])
  })

  it('never duplicates a request to the origin while another peer holds the chunk', () => {
    const dp = createDownloadPolicy({ chunkCount: 2, chunkBytes: MiB, have: bits('* '), rng: seededRng(1), config: { randomFirstPicks: 0 } })
    dp.addPeer('origin', { origin: true }, 0)
    dp.addPeer('p', {}, 0)
    dp.onBitfield('origin', bits('**'))
    dp.onBitfield('p', bits('**'))
    expect(dp.pick(0)).toEqual([{ peer: 'p', chunk: 1 }])
    expect(dp.pick(100)).toEqual([]) // the origin is idle, but p holds the chunk
  })
})

describe('request pipeline', () => {
  it('depth is the bandwidth-delay product plus one, bounded', () => {
    const p = { ...DEFAULT_DOWNLOAD_CONFIG, minPipeline: 2, maxPipeline: 32, pipelineQueueMs: 20, initialPipeline: 4 }
    expect(pipelineDepth(0, 10, MiB, p)).toBe(4)
    expect(pipelineDepth(125e6, 10, MiB, p)).toBe(Math.ceil(125e6 * 0.03 / MiB) + 1)
    expect(pipelineDepth(1e6, 10, MiB, p)).toBe(2)
    expect(pipelineDepth(10e9, 100, MiB, p)).toBe(32)
  })

  it('grows with the measured rate and round trip', () => {
    const run = (rttMs: number, msPerChunk: number): number => {
      const f = setupPicker('1'.repeat(200), '', {})
      f.dp.updatePeer('p0', { rttMs })
      let now = 0
      for (let i = 0; i < 20; i++) {
        f.dp.pick(now)
        const next = f.dp.outstanding()[0]
        now += msPerChunk
        f.dp.onReceived(next.peer, next.chunk, MiB, now)
      }
      f.dp.pick(now)
      return f.dp.outstanding().length
    }
    const fastFar = run(40, MiB / 125e6 * 1000) // 1 Gbit/s, 40 ms
    const fastNear = run(0.2, MiB / 125e6 * 1000)
    const slow = run(0.2, 1000) // 1 MiB/s
    expect(fastFar).toBe(Math.ceil(125e6 * 0.06 / MiB) + 1)
    expect(fastNear).toBeLessThan(fastFar)
    expect(slow).toBe(2)
  })
})

describe('expiry', () => {
  it('re-issues a request unanswered past the floor, elsewhere', () => {
    const f = setupPicker('2', '', { config: { requestTimeoutMs: 4000, endGameThreshold: 0 } })
    only(f, 'p0')
    expect(f.dp.pick(0)).toEqual([{ peer: 'p0', chunk: 0 }])
    expect(f.dp.expire(3999)).toEqual([])
    expect(f.dp.expire(4000)).toEqual([{ peer: 'p0', chunk: 0 }])
    expect(f.dp.outstanding()).toEqual([])
    f.dp.onChoke('p1', false, 4000)
    expect(f.dp.pick(4000).map(r => r.chunk)).toEqual([0])
  })

  it('scales the timeout with the measured rate and queue position', () => {
    const f = setupPicker('1'.repeat(10), '', { config: { requestTimeoutMs: 1000, minPipeline: 2, maxPipeline: 2, initialPipeline: 2 } })
    f.dp.pick(0)
    const [a] = f.dp.outstanding()
    f.dp.onReceived('p0', a.chunk, MiB, 2000) // 1 MiB in 2 s: 0.5 MiB/s
    // The second request (sent at 0 behind one) and a new one (sent at 2000 behind one):
    // each expected after 2 x 2 s, so due 4 x 4 s after sending, not after the 1 s floor.
    f.dp.pick(2000)
    expect(f.dp.outstanding()).toHaveLength(2)
    expect(f.dp.expire(15_999)).toEqual([])
    expect(f.dp.expire(16_000)).toHaveLength(1)
    // The stall counted against the peer's rate, so the later request now gets longer.
    expect(f.dp.expire(18_000)).toEqual([])
  })
})

describe('peers leaving and choking', () => {
  it('a peer that leaves releases its requests', () => {
    const f = setupPicker('22', '', { config: { initialPipeline: 2 } })
    only(f, 'p0')
    expect(f.dp.pick(0)).toHaveLength(2)
    f.dp.removePeer('p0', 1)
    expect(f.dp.outstanding()).toEqual([])
    f.dp.onChoke('p1', false, 1)
    expect(chunks(f.dp.pick(1)).sort()).toEqual([0, 1])
  })

  it('choking drops our queued requests and stops picks from that peer until unchoke', () => {
    const f = setupPicker('11', '', { config: { initialPipeline: 2 } })
    const [head] = f.dp.pick(0)
    expect(f.dp.pick(0)).toEqual([])
    f.dp.onChoke('p0', true, 1)
    expect(f.dp.outstanding()).toEqual([head]) // the one on the wire is kept
    expect(f.dp.pick(1)).toEqual([])
    f.dp.onChoke('p0', false, 2)
    expect(f.dp.pick(2)).toHaveLength(1)
  })

  it('a choke keeps the request being served, so its chunk arriving after the choke is not fetched twice', () => {
    const f = setupPicker('2222', '', { config: { initialPipeline: 2, endGameThreshold: 0 } })
    only(f, 'p0')
    const first = f.dp.pick(0)
    expect(first.map(r => r.peer)).toEqual(['p0', 'p0'])
    f.dp.onReceived('p0', first[0].chunk, MiB, 100) // measures ~10 MB/s: a chunk takes ~100 ms
    const refill = f.dp.pick(100) // the head is now first[1]
    expect(refill).toHaveLength(1)
    f.dp.onChoke('p0', true, 150)
    f.dp.onChoke('p1', false, 150)
    // first[1] is on the wire at p0: only the queued request and the rest go elsewhere.
    const again = chunks(f.dp.pick(150))
    expect(again).toContain(refill[0].chunk)
    expect(again).not.toContain(first[1].chunk)
    expect(f.dp.onReceived('p0', first[1].chunk, MiB, 200)).toEqual([])
    expect(f.dp.outstanding().some(r => r.chunk === first[1].chunk)).toBe(false)
  })

  it('a request kept at a choke is given up after about two chunk times when nothing arrives', () => {
    const f = setupPicker('222', '', { config: { initialPipeline: 1, minPipeline: 1, maxPipeline: 1, endGameThreshold: 0 } })
    only(f, 'p0')
    const [a] = f.dp.pick(0)
    f.dp.onReceived('p0', a.chunk, MiB, 100) // ~100 ms per chunk
    const [b] = f.dp.pick(100)
    f.dp.onChoke('p0', true, 110)
    expect(f.dp.expire(200)).toEqual([])
    expect(f.dp.expire(400)).toEqual([{ peer: 'p0', chunk: b.chunk }])
    f.dp.onChoke('p1', false, 400)
    expect(f.dp.pick(400)).toEqual([{ peer: 'p1', chunk: b.chunk }])
  })

  it('a rejected chunk is not asked of that peer again until it unchokes us', () => {
    const f = setupPicker('2', '', { config: { initialPipeline: 1 } })
    only(f, 'p0')
    f.dp.pick(0)
    f.dp.onRejected('p0', 0, 1)
    expect(f.dp.pick(1)).toEqual([])
    f.dp.onChoke('p1', false, 2)
    expect(f.dp.pick(2)).toEqual([{ peer: 'p1', chunk: 0 }])
  })

  it('forgets a rejection requestTimeoutMs after it, so a refusing origin can be asked again', () => {
    const dp = createDownloadPolicy({ chunkCount: 1, chunkBytes: MiB, have: new Bitfield(1), rng: seededRng(1), config: { randomFirstPicks: 0, requestTimeoutMs: 4000 } })
    dp.addPeer('origin', { origin: true }, 0)
    dp.onBitfield('origin', bits('*'))
    expect(dp.pick(0)).toEqual([{ peer: 'origin', chunk: 0 }])
    dp.onRejected('origin', 0, 10)
    expect(dp.pick(3000)).toEqual([])
    expect(dp.pick(4010)).toEqual([{ peer: 'origin', chunk: 0 }])
  })

  it('isInterested follows what the peer has that we lack', () => {
    const f = setupPicker('21', '', {})
    expect(f.dp.isInterested('p1')).toBe(true)
    f.dp.pick(0)
    for (const r of f.dp.outstanding()) f.dp.onReceived(r.peer, r.chunk, MiB, 1)
    expect(f.dp.isInterested('p1')).toBe(false)
    expect(f.dp.done).toBe(true)
    expect(f.dp.pick(2)).toEqual([])
  })
})

describe('bad peers', () => {
  it('scores a corrupt peer down and drops it at maxCorruptPerPeer; it is never picked again', () => {
    const f = setupPicker('22', '', { config: { maxCorruptPerPeer: 2, initialPipeline: 1, minPipeline: 1 } })
    only(f, 'p0')
    f.dp.pick(0)
    expect(f.dp.onCorrupt('p0', f.dp.outstanding()[0].chunk, 1)).toEqual({ drop: false })
    f.dp.pick(1)
    expect(f.dp.onCorrupt('p0', f.dp.outstanding()[0].chunk, 2)).toEqual({ drop: true })
    expect(f.dp.outstanding()).toEqual([])
    f.dp.addPeer('p0', {}, 3)
    f.dp.onBitfield('p0', bits('**'))
    f.dp.onChoke('p0', false, 3)
    expect(f.dp.pick(3)).toEqual([])
    expect(f.dp.isInterested('p0')).toBe(false)
    f.dp.onChoke('p1', false, 3)
    expect(f.dp.pick(3).every(r => r.peer === 'p1')).toBe(true)
  })

  it('prefers a clean peer over one that sent a corrupt chunk', () => {
    const f = setupPicker('22', '', { config: { maxCorruptPerPeer: 5, initialPipeline: 1, minPipeline: 1, maxPipeline: 1 } })
    f.dp.updatePeer('p1', { rttMs: 50 })
    f.dp.updatePeer('p0', { rttMs: 1 })
    only(f, 'p0')
    f.dp.pick(0)
    f.dp.onCorrupt('p0', f.dp.outstanding()[0].chunk, 1)
    f.dp.onChoke('p1', false, 1)
    const reqs = f.dp.pick(1)
    expect(reqs[0].peer).toBe('p1')
  })
})

describe('nearest peers', () => {
  function zoned (): ReturnType<typeof createDownloadPolicy> {
    const dp = createDownloadPolicy({ chunkCount: 3, chunkBytes: MiB, have: new Bitfield(3), zone: 'a', rng: seededRng(3), config: { randomFirstPicks: 0, initialPipeline: 4 } })
    dp.addPeer('near', { zone: 'a', rttMs: 1 }, 0)
    dp.addPeer('far', { zone: 'b', rttMs: 1 }, 0)
    dp.onBitfield('near', bits('*  '))
    dp.onBitfield('far', bits('** '))
    return dp
  }

  it('takes a chunk from an in-zone peer when one has it, across zones only otherwise', () => {
    const dp = zoned()
    const reqs = dp.pick(0)
    expect(reqs).toContainEqual({ peer: 'near', chunk: 0 })
    expect(reqs).toContainEqual({ peer: 'far', chunk: 1 })
    expect(reqs).toHaveLength(2)
  })

  it('does not fetch across zones a chunk an in-zone peer just announced', () => {
    const dp = zoned()
    dp.onHave('near', 1)
    const reqs = dp.pick(0)
    expect(reqs).toHaveLength(2)
    expect(reqs.every(r => r.peer === 'near')).toBe(true)
  })

  it('starved (every in-zone holder chokes us, nothing outstanding): asks an unchoked peer of another zone', () => {
    const dp = zoned()
    dp.onChoke('near', true, 0)
    dp.onReceived('far', 1, MiB, 0) // we hold chunk 1; chunk 0 is held by near (choking us) and far
    const first = dp.pick(10)
    expect(first).toEqual([]) // not yet: a choke may be turned over at once
    expect(dp.pick(10)).toEqual([{ peer: 'far', chunk: 0 }])
  })

  it('waits starveMs before treating a choke-out as starvation', () => {
    const dp = chokedOutByNear()
    expect(dp.pick(0)).toEqual([])
    expect(dp.pick(499)).toEqual([])
    expect(dp.pick(500)).toHaveLength(2)
  })

  it('prefers the lower round trip among candidates', () => {
    const dp = createDownloadPolicy({ chunkCount: 1, chunkBytes: MiB, have: new Bitfield(1), rng: seededRng(1), config: { endGameThreshold: 0 } })
    dp.addPeer('slow', { rttMs: 30 }, 0)
    dp.addPeer('quick', { rttMs: 2 }, 0)
    dp.onBitfield('slow', bits('*'))
    dp.onBitfield('quick', bits('*'))
    expect(dp.pick(0)).toEqual([{ peer: 'quick', chunk: 0 }])
  })

  it('takes from the origin only what no other peer has', () => {
    const dp = createDownloadPolicy({ chunkCount: 2, chunkBytes: MiB, have: new Bitfield(2), rng: seededRng(1), config: { randomFirstPicks: 0 } })
    dp.addPeer('origin', { origin: true, rttMs: 0.1 }, 0)
    dp.addPeer('p', { rttMs: 5 }, 0)
    dp.onBitfield('origin', bits('**'))
    dp.onBitfield('p', bits('* '))
    const reqs = dp.pick(0)
    expect(reqs).toContainEqual({ peer: 'p', chunk: 0 })
    expect(reqs).toContainEqual({ peer: 'origin', chunk: 1 })
    expect(reqs).toHaveLength(2)
  })

  it('trades with an origin in full service like any peer, and goes back to sparing it when told', () => {
    const make = (): DownloadPolicy => {
      const dp = createDownloadPolicy({ chunkCount: 8, chunkBytes: MiB, have: new Bitfield(8), rng: seededRng(1), config: { randomFirstPicks: 0, initialPipeline: 2 } })
      dp.addPeer('origin', { origin: true, rttMs: 0.1 }, 0)
      dp.addPeer('p', { rttMs: 5 }, 0)
      dp.onBitfield('origin', bits('********'))
      dp.onBitfield('p', bits('********'))
      return dp
    }
    const sparing = make()
    expect(new Set(sparing.pick(0).map(r => r.peer))).toEqual(new Set(['p']))
    const full = make()
    full.updatePeer('origin', { origin: false, rttMs: 0.1 })
    expect(new Set(full.pick(0).map(r => r.peer))).toEqual(new Set(['origin', 'p']))
    full.updatePeer('origin', { origin: true, rttMs: 0.1 })
    for (const r of full.outstanding()) full.onReceived(r.peer, r.chunk, MiB, 10)
    expect(new Set(full.pick(10).map(r => r.peer))).toEqual(new Set(['p']))
  })

  it('takes everything from a full-service origin that keeps up with our link, and goes back to trading when it does not', () => {
    const mbit = 1e6
    const make = (downlinkBps: number): DownloadPolicy => {
      const dp = createDownloadPolicy({ chunkCount: 64, chunkBytes: MiB, have: new Bitfield(64), rng: seededRng(1), config: { randomFirstPicks: 0, initialPipeline: 2, downlinkBps } })
      dp.addPeer('origin', { origin: false, fullService: true, rttMs: 0.1 }, 0)
      dp.addPeer('p', { rttMs: 0.1 }, 0)
      dp.addPeer('q', { rttMs: 0.1 }, 0)
      for (const k of ['origin', 'p', 'q']) dp.onBitfield(k, bits('*'.repeat(64)))
      return dp
    }
    // Our link rate unknown: the origin is one peer among others.
    expect(new Set(make(0).pick(0).map(r => r.peer))).toEqual(new Set(['origin', 'p', 'q']))
    // Known: the origin alone, three deep, and again after each chunk.
    const dp = make(80 * mbit)
    let t = 0
    expect(dp.pick(t).map(r => r.peer)).toEqual(['origin', 'origin', 'origin'])
    for (let i = 0; i < 10; i++) {
      // 1 MiB every 100 ms: ~84 Mbit/s, our whole link.
      t += 100
      dp.onReceived('origin', dp.outstanding()[0].chunk, MiB, t)
      expect(dp.pick(t).map(r => r.peer)).toEqual(['origin'])
    }
    // It slows to a third of our link (1 MiB per 300 ms): the hosts trade again.
    for (let i = 0; i < 20; i++) {
      t += 300
      dp.onReceived('origin', dp.outstanding().find(r => r.peer === 'origin')?.chunk ?? -1, MiB, t)
      dp.pick(t)
    }
    expect(new Set(dp.outstanding().map(r => r.peer))).toEqual(new Set(['origin', 'p', 'q']))
  })

  it('withdraws a request at the origin once another peer announces the chunk (FINDINGS 2)', () => {
    const dp = createDownloadPolicy({ chunkCount: 3, chunkBytes: MiB, have: new Bitfield(3), rng: seededRng(1), config: { randomFirstPicks: 0, initialPipeline: 3 } })
    dp.addPeer('origin', { origin: true }, 0)
    dp.addPeer('p', {}, 0)
    dp.onBitfield('origin', bits('***'))
    expect(chunks(dp.pick(0)).sort()).toEqual([0, 1, 2]) // all from the origin: nobody else has them
    dp.onHave('p', 1)
    expect(dp.expire(1)).toEqual([{ peer: 'origin', chunk: 1 }]) // cancel it at the origin
    expect(dp.pick(1)).toEqual([{ peer: 'p', chunk: 1 }])
    expect(dp.expire(2)).toEqual([])
    // A chunk also requested elsewhere is withdrawn from the origin only.
    dp.onHave('p', 2)
    expect(dp.expire(3)).toEqual([{ peer: 'origin', chunk: 2 }])
    expect(dp.outstanding()).toContainEqual({ peer: 'origin', chunk: 0 })
  })

  it('splits cross-zone fetches among zone members: each chunk owned by exactly one', () => {
    const n = 60
    const members = ['h1', 'h2', 'h3']
    const owned = members.map(self => {
      const dp = createDownloadPolicy({ chunkCount: n, chunkBytes: MiB, have: new Bitfield(n), zone: 'b', self, rng: seededRng(1), config: { randomFirstPicks: 0, initialPipeline: n, maxPipeline: n, endGameThreshold: 0 } })
      for (const m of members) if (m !== self) dp.addPeer(m, { zone: 'b' }, 0)
      dp.addPeer('a1', { zone: 'a' }, 0)
      dp.onBitfield('a1', bits('*'.repeat(n)))
      const reqs = dp.pick(0)
      expect(reqs.every(r => r.peer === 'a1')).toBe(true)
      return chunks(reqs)
    })
    const all = owned.flat().sort((x, y) => x - y)
    expect(all).toEqual([...Array(n).keys()]) // disjoint and covering
    for (const o of owned) expect(o.length).toBeGreaterThan(10)
  })

  it('after crossZoneGraceMs a chunk no zone member fetched may be taken by another member', () => {
    const n = 30
    const dp = createDownloadPolicy({ chunkCount: n, chunkBytes: MiB, have: new Bitfield(n), zone: 'b', self: 'h1', rng: seededRng(1), config: { randomFirstPicks: 0, initialPipeline: 32, maxPipeline: 32, crossZoneGraceMs: 1000 } })
    dp.addPeer('h2', { zone: 'b' }, 0)
    dp.addPeer('a1', { zone: 'a' }, 0)
    dp.onBitfield('a1', bits('*'.repeat(n)))
    const mine = dp.pick(0).length
    expect(mine).toBeLessThan(n)
    expect(dp.pick(999)).toEqual([])
    expect(dp.pick(1000)).toHaveLength(Math.min(32, n) - mine)
  })

  it('stretches the cross-zone grace to crossZoneGraceChunks chunk times on slow links', () => {
    const n = 30
    const dp = createDownloadPolicy({ chunkCount: n, chunkBytes: MiB, have: new Bitfield(n), zone: 'b', self: 'h1', rng: seededRng(1), config: { randomFirstPicks: 0, initialPipeline: 32, maxPipeline: 32, crossZoneGraceMs: 1000, crossZoneGraceChunks: 10 } })
    dp.addPeer('h2', { zone: 'b' }, 0)
    dp.onBitfield('h2', bits('*' + '.'.repeat(n - 1)))
    expect(chunks(dp.pick(0))).toEqual([0])
    dp.onReceived('h2', 0, MiB, 2000) // 1 MiB in 2 s: a chunk time of 2 s, so a grace of 20 s
    dp.addPeer('a1', { zone: 'a' }, 2000)
    dp.onBitfield('a1', bits('*'.repeat(n)))
    const mine = dp.pick(2000).length
    expect(mine).toBeGreaterThan(0)
    expect(mine).toBeLessThan(n - 1)
    expect(dp.pick(2000 + 19_999)).toEqual([]) // a fixed 1 s grace would have opened h2's chunks long ago
    expect(dp.pick(2000 + 20_000)).toHaveLength(n - 1 - mine)
  })

  it('opens a chunk to one more zone member per grace, to all after CROSS_ZONE_STEPS', () => {
    const n = 400
    const members = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7', 'h8']
    const eligibleAt = (t: number): number => {
      const dp = createDownloadPolicy({ chunkCount: n, chunkBytes: MiB, have: new Bitfield(n), zone: 'b', self: 'h1', rng: seededRng(1), config: { randomFirstPicks: 0, initialPipeline: n, minPipeline: n, maxPipeline: n, endGameThreshold: 0, crossZoneGraceMs: 1000 } })
      for (const m of members.slice(1)) dp.addPeer(m, { zone: 'b' }, 0)
      dp.addPeer('a1', { zone: 'a' }, 0)
      dp.onBitfield('a1', bits('*'.repeat(n)))
      return dp.pick(0).length + (t > 0 ? dp.pick(t).length : 0)
    }
    const counts = [0, 999, 1000, 2000, 3000, 4000].map(eligibleAt)
    expect(counts[0]).toBeGreaterThan(n / 8 / 2) // about 1/8: our share as owner
    expect(counts[0]).toBeLessThan(n / 8 * 2)
    expect(counts[1]).toBe(counts[0])
    expect(counts[2]).toBeGreaterThan(counts[0]) // + the chunks we are first backup for
    expect(counts[2]).toBeLessThan(counts[0] * 3)
    expect(counts[3]).toBeGreaterThan(counts[2])
    expect(counts[4]).toBeGreaterThan(counts[3])
    expect(counts[4]).toBeLessThan(n * 0.75)
    expect(counts[5]).toBe(n)
  })
})

describe('bitfield fallback', () => {
  it('finds the rarest chunk a peer holds when the bucket walk runs over budget', () => {
    // 200 chunks at availability 1 held by p0 only; p1 holds just chunk 250 (availability 2).
    const n = 260
    const dp = createDownloadPolicy({ chunkCount: n, chunkBytes: MiB, have: new Bitfield(n), rng: seededRng(2), config: { randomFirstPicks: 0, scanBudget: 8 } })
    dp.addPeer('p0', {}, 0)
    dp.addPeer('p1', {}, 0)
    const a = new Bitfield(n)
    for (let i = 0; i < 200; i++) a.set(i)
    a.set(250)
    dp.onBitfield('p0', a)
    const b = new Bitfield(n)
    b.set(250)
    dp.onBitfield('p1', b)
    dp.onChoke('p0', true, 0)
    expect(dp.pick(0)).toEqual([{ peer: 'p1', chunk: 250 }])
  })
})

describe('a chunk that arrived and is being verified', () => {
  it('is not given up at a choke, nor asked elsewhere', () => {
    const f = setupPicker('2222', '', { config: { initialPipeline: 3, minPipeline: 3, maxPipeline: 3, endGameThreshold: 0 } })
    only(f, 'p0')
    const asked = chunks(f.dp.pick(0))
    expect(asked).toHaveLength(3)
    // The second and third came in before the CHOKE; their hashes are being checked.
    f.dp.onArrived('p0', asked[1])
    f.dp.onArrived('p0', asked[2])
    f.dp.onChoke('p0', true, 10)
    expect(chunks(f.dp.outstanding()).sort()).toEqual([...asked].sort()) // the head is kept as before, the arrived two too
    f.dp.onChoke('p1', false, 10)
    expect(chunks(f.dp.pick(10))).not.toContain(asked[1])
    expect(f.dp.onReceived('p0', asked[1], MiB, 20)).toEqual([])
    expect(f.dp.onReceived('p0', asked[2], MiB, 20)).toEqual([])
    expect(f.dp.duplicates()).toMatchObject({ choked: 0, timeout: 0, endGame: 0 })
  })

  it('is not overdue, and end game leaves it alone', () => {
    const f = setupPicker('22', '', { config: { initialPipeline: 1, minPipeline: 1, maxPipeline: 1, endGameThreshold: 4, endGameFraction: 1, requestTimeoutMs: 1000 } })
    const [a, b] = f.dp.pick(0)
    f.dp.onArrived(a.peer, a.chunk)
    expect(f.dp.expire(60_000)).toEqual([{ peer: b.peer, chunk: b.chunk }]) // only the one still on its way
    // The other peer is idle and holds a's chunk: in end game it would duplicate an overdue chunk, not this one.
    expect(f.dp.pick(60_000).some(r => r.chunk === a.chunk)).toBe(false)
    expect(f.dp.onReceived(a.peer, a.chunk, MiB, 60_001)).toEqual([])
  })

  it('goes back to the pool when it fails verification', () => {
    const f = setupPicker('1', '', { config: { initialPipeline: 1 } })
    only(f, 'p0')
    const [r] = f.dp.pick(0)
    f.dp.onArrived('p0', r.chunk)
    f.dp.onCorrupt('p0', r.chunk, 5)
    expect(f.dp.outstanding()).toEqual([])
  })
})

describe('duplicates by cause', () => {
  it('charges a late copy to the timeout that re-issued its request', () => {
    const f = setupPicker('2', '', { config: { requestTimeoutMs: 4000, endGameThreshold: 0 } })
    only(f, 'p0')
    f.dp.pick(0)
    f.dp.expire(4000)
    f.dp.onChoke('p1', false, 4000)
    const [again] = f.dp.pick(4000)
    expect(again.chunk).toBe(0)
    f.dp.onReceived(again.peer, 0, MiB, 4100)
    f.dp.onDuplicate(0) // the first copy, still on its way when its request was given up
    expect(f.dp.duplicates()).toEqual({ timeout: 1, choked: 0, withdrawn: 0, endGame: 0, unexplained: 0 })
  })

  it('charges a copy to end game, and one from a choking peer to the choke', () => {
    const f = setupPicker('2222', '', { config: { initialPipeline: 1, minPipeline: 1, maxPipeline: 1, endGameThreshold: 4, endGameFraction: 1 } })
    for (const r of f.dp.pick(0)) f.dp.onReceived(r.peer, r.chunk, MiB, 5)
    const [c, left] = f.dp.pick(5)
    f.dp.onReceived(c.peer, c.chunk, MiB, 7)
    f.dp.onChoke(left.peer, true, 8)
    expect(f.dp.pick(8)).toEqual([{ peer: c.peer, chunk: left.chunk }])
    f.dp.onReceived(c.peer, left.chunk, MiB, 9)
    f.dp.onDuplicate(left.chunk)
    expect(f.dp.duplicates()).toMatchObject({ endGame: 1, choked: 0, unexplained: 0 })

    const g = setupPicker('222', '', { config: { initialPipeline: 1, minPipeline: 1, maxPipeline: 1, endGameThreshold: 0 } })
    only(g, 'p0')
    const [a] = g.dp.pick(0)
    g.dp.onReceived('p0', a.chunk, MiB, 100)
    const [b] = g.dp.pick(100)
    g.dp.onChoke('p0', true, 110)
    g.dp.expire(400) // the request kept at the choke, given up
    g.dp.onChoke('p1', false, 400)
    g.dp.pick(400)
    g.dp.onReceived('p1', b.chunk, MiB, 500)
    g.dp.onDuplicate(b.chunk) // p0 finished sending it after all
    expect(g.dp.duplicates()).toMatchObject({ choked: 1, timeout: 0, unexplained: 0 })
  })

  it('charges a copy of a request released at a choke to the choke', () => {
    const f = setupPicker('22', '', { config: { initialPipeline: 2, minPipeline: 2, maxPipeline: 2, endGameThreshold: 0 } })
    only(f, 'p0')
    const asked = f.dp.pick(0)
    expect(asked.map(r => r.peer)).toEqual(['p0', 'p0'])
    f.dp.onChoke('p0', true, 10) // the newer request goes back to the pool at once
    f.dp.onChoke('p1', false, 10)
    const [again] = f.dp.pick(10)
    expect(again.peer).toBe('p1')
    f.dp.onReceived('p1', again.chunk, MiB, 50)
    f.dp.onDuplicate(again.chunk) // p0 had sent it before it choked us
    expect(f.dp.duplicates()).toMatchObject({ choked: 1, timeout: 0, unexplained: 0 })
  })

  it('charges the origin\'s copy of a withdrawn request to the withdrawal', () => {
    const dp = createDownloadPolicy({ chunkCount: 3, chunkBytes: MiB, have: new Bitfield(3), rng: seededRng(1), config: { randomFirstPicks: 0, initialPipeline: 3 } })
    dp.addPeer('origin', { origin: true }, 0)
    dp.addPeer('p', {}, 0)
    dp.onBitfield('origin', bits('***'))
    dp.pick(0)
    dp.onHave('p', 1)
    dp.expire(1)
    dp.pick(1)
    dp.onReceived('p', 1, MiB, 2)
    dp.onDuplicate(1) // the origin had sent it before the cancel reached it
    expect(dp.duplicates()).toMatchObject({ withdrawn: 1, unexplained: 0 })
  })

  it('counts a copy no reissue explains as unexplained', () => {
    const f = setupPicker('1')
    const [r] = f.dp.pick(0)
    f.dp.onReceived(r.peer, r.chunk, MiB, 10)
    f.dp.onDuplicate(r.chunk)
    expect(f.dp.duplicates().unexplained).toBe(1)
  })
})

import { describe, expect, it } from 'vitest'
import { createChoker, createOriginChoker, seededRng } from '../src/policy/index.js'
import type { UploadPeerStats } from '../src/policy/index.js'

/** Peers from a rate string: "9310" = four interested peers with rates 9, 3, 1, 0 (x 1 MB/s). */
function peers (rates: string, opts: { seeding?: boolean, zones?: string, interested?: string } = {}): UploadPeerStats[] {
  return [...rates].map((ch, i) => {
    const r = Number.parseInt(ch, 36) * 1e6
    return {
      peer: `p${i}`,
      interested: opts.interested === undefined || opts.interested[i] === '*',
      downloadRate: opts.seeding === true ? 0 : r,
      uploadRate: opts.seeding === true ? r : 0,
      unchoked: false,
      zone: opts.zones?.[i]
    }
  })
}

describe('choker', () => {
  it('tit-for-tat: unchokes the uploadSlots peers that give us most, plus one optimistic', () => {
    const c = createChoker({ uploadSlots: 3 }, { rng: seededRng(1) })
    const d = c.rechoke(peers('1937052'), false, 0)
    expect(d.unchoked.slice(0, 3).sort()).toEqual(['p1', 'p3', 'p5']) // 9, 7, 5
    expect(d.unchoked).toHaveLength(4)
    expect(d.optimistic).toBeDefined()
    expect(['p1', 'p3', 'p5']).not.toContain(d.optimistic)
  })

  it('a peer that held a slot for a whole interval and took nothing goes behind the peers waiting', () => {
    // Tail of a download: every rate is 0. p0 and p1 are unchoked but asked us
    // for nothing; p2 and p3 wait. With one regular slot the slot must move.
    for (let seed = 1; seed <= 10; seed++) {
      const c = createChoker({ uploadSlots: 2, optimisticEvery: 1 }, { rng: seededRng(seed) })
      const ps = peers('0000')
      ps[0].unchoked = true
      ps[1].unchoked = true
      const d = c.rechoke(ps, false, 0)
      expect(d.unchoked.slice(0, 2).sort()).toEqual(['p2', 'p3'])
    }
  })

  it('seeding: ranks by the rate peers take from us', () => {
    const c = createChoker({ uploadSlots: 2 }, { rng: seededRng(1) })
    const list = peers('1937', { seeding: true })
    for (const p of list) p.downloadRate = 100e6 - p.uploadRate // the opposite order, to be ignored
    const d = c.rechoke(list, true, 0)
    expect(d.unchoked.slice(0, 2).sort()).toEqual(['p1', 'p3'])
  })

  it('never unchokes a peer that is not interested', () => {
    const c = createChoker({ uploadSlots: 4 }, { rng: seededRng(1) })
    const d = c.rechoke(peers('99999', { interested: '* * *' }), false, 0)
    expect(d.unchoked.sort()).toEqual(['p0', 'p2', 'p4'])
  })

  it('leaves an unchoked peer that shows no interest its slot while slots are free, and takes it back for one that needs it', () => {
    const c = createChoker({ uploadSlots: 2 }, { rng: seededRng(1) })
    const ps = peers('999', { interested: '*  ' }).map((p, i) => ({ ...p, unchoked: i > 0 }))
    // p1 and p2 hold slots without interest (yet): with p0 there are three slots, so both keep theirs.
    expect(c.rechoke(ps, false, 0).unchoked.sort()).toEqual(['p0', 'p1', 'p2'])
    // Two more interested peers want slots: the idle ones give theirs up.
    const more = [...ps, ...peers('99', { interested: '**' }).map((p, i) => ({ ...p, peer: `q${i}` }))]
    const d = c.rechoke(more, false, 0)
    expect(d.unchoked).toHaveLength(3)
    expect(d.unchoked).not.toContain('p1')
    expect(d.unchoked).not.toContain('p2')
  })

  it('rotates the optimistic unchoke every optimisticEvery rechokes, over all choked peers', () => {
    const c = createChoker({ uploadSlots: 1, optimisticEvery: 3 }, { rng: seededRng(5) })
    const list = peers('900000')
    const seen: string[] = []
    for (let round = 0; round < 30; round++) {
      const d = c.rechoke(list, false, round * 2000)
      for (const p of list) p.unchoked = d.unchoked.includes(p.peer)
      seen.push(d.optimistic as string)
    }
    for (let i = 0; i < 30; i += 3) {
      expect(seen[i + 1]).toBe(seen[i])
      expect(seen[i + 2]).toBe(seen[i])
      if (i > 0) expect(seen[i]).not.toBe(seen[i - 1])
    }
    expect(new Set(seen)).toEqual(new Set(['p1', 'p2', 'p3', 'p4', 'p5']))
  })

  it('prefers an in-zone peer for the optimistic slot', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const c = createChoker({ uploadSlots: 1 }, { rng: seededRng(seed), zone: 'a' })
      const d = c.rechoke(peers('90000', { zones: 'abbab' }), false, 0)
      expect(d.optimistic).toBe('p3')
    }
  })

  it('keeps one slot for another zone, which tit-for-tat alone would starve', () => {
    const c = createChoker({ uploadSlots: 2, farSlots: 1 }, { rng: seededRng(2), zone: 'a' })
    const list = peers('99900', { zones: 'aaabb' })
    const seen = new Set<string>()
    for (let round = 0; round < 12; round++) {
      const d = c.rechoke(list, false, round)
      const far = d.unchoked.filter(p => p === 'p3' || p === 'p4')
      expect(far).toHaveLength(1)
      seen.add(far[0])
      for (const p of list) p.unchoked = d.unchoked.includes(p.peer)
    }
    expect(seen).toEqual(new Set(['p3', 'p4'])) // rotated
    const none = createChoker({ uploadSlots: 2, farSlots: 0 }, { rng: seededRng(2), zone: 'a' })
    expect(none.rechoke(peers('99900', { zones: 'aaabb' }), false, 0).unchoked.filter(p => p === 'p3' || p === 'p4')).toEqual([])
  })

  it('keeps the current unchokes on equal rates (no churn)', () => {
    const c = createChoker({ uploadSlots: 2 }, { rng: seededRng(9) })
    const list = peers('00000')
    list[3].unchoked = true
    list[4].unchoked = true
    list[3].uploadRate = 1e6 // they use their slots
    list[4].uploadRate = 1e6
    const d = c.rechoke(list, false, 0)
    expect(d.unchoked.slice(0, 2).sort()).toEqual(['p3', 'p4'])
  })

  it('origin: unchokes every peer, interested or not, from the first rechoke', () => {
    // 20 peers, two zones, mixed rates; four are not interested yet (a reveal
    // may make them so, and they must be able to ask at once).
    const list = peers('9876543210abcdefghij', { seeding: true, zones: 'aaaaaaaaaabbbbbbbbbb', interested: '**.***.******.*****.' })
    const origin = createOriginChoker({ uploadSlots: 2 })
    const d = origin.rechoke(list, true, 0)
    expect([...d.unchoked].sort()).toEqual(list.map(p => p.peer).sort())
    expect(d.optimistic).toBeUndefined()
    expect(origin.config.uploadSlots).toBe(Number.MAX_SAFE_INTEGER) // the driver's fast unchoke never runs out either
    // A host's choker on the same peers keeps to its slots, and to interested peers.
    const host = createChoker(undefined, { zone: 'a', rng: seededRng(1) })
    const h = host.rechoke(list, true, 0).unchoked
    expect(h.length).toBeLessThanOrEqual(host.config.uploadSlots + 1 + (host.config.farSlots ?? 0))
    expect(h.every(k => list.find(p => p.peer === k)?.interested === true)).toBe(true)
  })

  it('has justified defaults', () => {
    const c = createChoker()
    expect(c.config).toEqual({ uploadSlots: 16, rechokeIntervalMs: 1000, optimisticEvery: 3, farSlots: 1 })
  })

  it('gives the optimistic slot to the interested peer holding least, whatever the seed', () => {
    // Four choked interested peers that give us nothing; p2 holds fewest chunks.
    for (let seed = 1; seed <= 20; seed++) {
      const c = createChoker({ uploadSlots: 1, optimisticEvery: 1 }, { rng: seededRng(seed) })
      const ps = peers('90000').map((p, i) => ({ ...p, haveCount: [50, 40, 3, 30, 20][i] }))
      const d = c.rechoke(ps, false, 0)
      expect(d.unchoked[0]).toBe('p0') // the regular slot: most given
      expect(d.optimistic).toBe('p2')
    }
  })
})

import { describe, expect, it } from 'vitest'
import { createOriginPolicy, seededRng } from '../src/policy/index.js'

function origin (n: number, window = 2, extra: { zone?: string, farRevealWindow?: number, redirectHolders?: number } = {}) {
  return createOriginPolicy({
    chunkCount: n, rng: seededRng(4), zone: extra.zone, config: { revealWindow: window, farRevealWindow: extra.farRevealWindow, redirectHolders: extra.redirectHolders }
  })
}

describe('origin policy', () => {
  it('reveals a window of distinct chunks per peer', () => {
    const o = origin(10, 3)
    o.addPeer('a', {})
    o.addPeer('b', {})
    const a = o.reveal('a', 0)
    const b = o.reveal('b', 0)
    expect(a).toHaveLength(3)
    expect(b).toHaveLength(3)
    expect(new Set([...a, ...b]).size).toBe(6)
    expect(o.reveal('a', 0)).toEqual([]) // window full
  })

  it('refills a slot when its chunk is sent or turns up at another peer', () => {
    const o = origin(10, 2)
    o.addPeer('a', {})
    o.addPeer('b', {})
    const [a0, a1] = o.reveal('a', 0)
    o.onSent('a', a0)
    expect(o.reveal('a', 1)).toHaveLength(1)
    o.onPeerHave('b', a1) // b got it from somewhere: a no longer needs us for it
    expect(o.reveal('a', 2)).toHaveLength(1)
  })

  it('reveals each chunk once before any chunk twice', () => {
    const n = 24
    const o = origin(n, 2)
    const peers = ['a', 'b', 'c', 'd']
    for (const p of peers) o.addPeer(p, {})
    const shown: number[] = []
    for (let round = 0; round < 4 && !o.allSent; round++) {
      for (const p of peers) {
        if (o.allSent) break
        const r = o.reveal(p, round)
        shown.push(...r)
        for (const c of r) { o.onSent(p, c); o.onPeerHave(p, c) }
      }
    }
    expect(shown).toHaveLength(n)
    expect(new Set(shown).size).toBe(n)
    expect(o.allSent).toBe(true)
  })

  it('shows a chunk to a second peer only when the first sat on it for staleRevealMs', () => {
    const o = createOriginPolicy({ chunkCount: 4, rng: seededRng(1), config: { revealWindow: 4, staleRevealMs: 3000 } })
    o.addPeer('a', {})
    expect(o.reveal('a', 0)).toHaveLength(4) // alone: the whole window
    o.addPeer('b', {})
    expect(o.reveal('b', 2999)).toEqual([]) // nothing fresh left; a is not stuck yet
    const b = o.reveal('b', 3000)
    expect(b).toHaveLength(1) // one, to keep b from idling
    expect(o.reveal('b', 3000)).toEqual([])
    o.onSent('a', b[0]) // a finally asked: the shared chunk leaves b's window
    o.onSent('b', b[0])
    expect(o.reveal('b', 3001)).toHaveLength(1)
  })

  it('shares the fresh chunks out among the peers still missing chunks', () => {
    // 64 chunks, 24 hosts, window 8: a full window each would seed 8 hosts and
    // leave 16 with nothing from us (and nothing to trade) until the pass ends.
    const o = origin(64, 8)
    const peers = Array.from({ length: 24 }, (_, i) => `h${i}`)
    for (const p of peers) o.addPeer(p, {})
    const shown = peers.map(p => o.reveal(p, 0))
    expect(shown.every(r => r.length >= 1)).toBe(true)
    expect(Math.max(...shown.map(r => r.length))).toBeLessThanOrEqual(3)
    expect(new Set(shown.flat()).size).toBe(shown.flat().length)
  })

  it('shows a stale chunk to one idle peer at a time, not to every idle peer', () => {
    const o = createOriginPolicy({ chunkCount: 2, rng: seededRng(1), config: { revealWindow: 2, staleRevealMs: 3000 } })
    o.addPeer('a', {})
    expect(o.reveal('a', 0)).toHaveLength(2)
    for (const p of ['b', 'c', 'd']) o.addPeer(p, {})
    const b = o.reveal('b', 3000)
    const c = o.reveal('c', 3000)
    expect(b).toHaveLength(1)
    expect(c).toHaveLength(1)
    expect(c[0]).not.toBe(b[0])
    expect(o.reveal('d', 3000)).toEqual([]) // both were just re-shown
    expect(o.reveal('d', 6000)).toHaveLength(1) // still nobody asked: once more
  })

  it('forgets the reveals of a peer that left', () => {
    const o = origin(4, 4)
    o.addPeer('a', {})
    o.reveal('a', 0)
    o.removePeer('a')
    o.addPeer('b', {})
    expect(o.reveal('b', 0)).toHaveLength(4)
  })

  it('without redirects: after every chunk left once, reveals everything the peer lacks, rarest first', () => {
    const o = origin(6, 3, { redirectHolders: 0 })
    o.addPeer('a', {})
    o.addPeer('b', {})
    while (!o.allSent) for (const p of ['a', 'b']) for (const c of o.reveal(p, 0)) { o.onSent(p, c); o.onPeerHave(p, c) }
    o.addPeer('c', {})
    expect(o.allSent).toBe(true)
    // c holds nothing; a and b each hold three; make chunk 0 common.
    const held0 = ['a', 'b'].filter(p => p !== 'x')
    for (const p of held0) o.onPeerHave(p, 0)
    expect(o.reveal('c', 1)).toEqual([]) // all held by someone: their HAVEs go first
    const all = o.reveal('c', 1501)
    expect(all).toHaveLength(6)
    expect(all.slice(-1)).toEqual([0]) // held by two: shown last
    expect(o.reveal('c', 1600)).toEqual([]) // revealed once is enough
  })

  it('without redirects: after the first pass, shows a held chunk only once its holder had time to announce it; a lost one at once', () => {
    const o = createOriginPolicy({ chunkCount: 3, rng: seededRng(2), config: { revealWindow: 3, heldRevealDelayMs: 1000, redirectHolders: 0 } })
    o.addPeer('a', {})
    for (const c of o.reveal('a', 0)) o.onSent('a', c)
    expect(o.allSent).toBe(true)
    o.addPeer('b', {})
    o.addPeer('c', {})
    o.onPeerHave('a', 0)
    expect(o.reveal('b', 100)).toEqual([]) // a's HAVE is still on its way to b
    o.onPeerHave('a', 1)
    expect(o.reveal('b', 1100)).toEqual([0]) // chunk 0 was first seen held at 100
    o.removePeer('a') // 1 and 2 now have no holder: lost
    expect(o.reveal('c', 1100).sort()).toEqual([0, 1, 2])
    expect(o.reveal('b', 1100).sort()).toEqual([1, 2])
  })

  it('refuses chunks a peer holds or that are on their way to one, and after the first pass reveals only lost ones', () => {
    const o = origin(4, 4)
    o.addPeer('a', {})
    const shown = o.reveal('a', 0)
    expect(shown).toHaveLength(4)
    o.addPeer('b', {})
    expect(o.serves('a', shown[0], 0)).toBe(true)
    o.onSent('a', shown[0])
    expect(o.serves('b', shown[0], 10)).toBe(false) // on its way to a
    expect(o.serves('a', shown[0], 10)).toBe(true) // a asking again: it lost it
    o.onPeerHave('a', shown[0])
    expect(o.serves('b', shown[0], 20)).toBe(false) // a holds it
    for (const c of shown.slice(1)) { o.onSent('a', c); o.onPeerHave('a', c) }
    expect(o.allSent).toBe(true)
    expect(o.reveal('b', 5000)).toEqual([]) // all held: b gets them from a
    o.removePeer('a') // everything lost
    expect(o.reveal('b', 5000).sort()).toEqual([0, 1, 2, 3])
    expect(o.serves('b', 0, 5000)).toBe(true)
  })

  it('serves a peer that gained nothing for starvingServeMs, even a chunk another peer holds', () => {
    const o = createOriginPolicy({ chunkCount: 4, rng: seededRng(3), config: { revealWindow: 2, starvingServeMs: 5000 } })
    o.addPeer('a', {})
    o.addPeer('b', {})
    const [c] = o.reveal('a', 0)
    o.reveal('b', 0)
    o.onSent('a', c)
    o.onPeerHave('a', c)
    expect(o.serves('b', c, 4000)).toBe(false)
    expect(o.serves('b', c, 5000)).toBe(true) // b got nothing since it joined
    o.reveal('b', 5000)
    o.onPeerHave('b', 3 - c) // it gains a chunk at 5000
    expect(o.serves('b', c, 6000)).toBe(false)
  })

  it('shows a peer starving for starvingRevealMs every chunk it lacks, held or not: its holders are out of its reach', () => {
    // A host that dropped the only holder (it sent bad bytes) was shown nothing and waited for ever.
    const o = createOriginPolicy({ chunkCount: 4, rng: seededRng(3), config: { revealWindow: 4, starvingServeMs: 5000, starvingRevealMs: 10_000 } })
    o.addPeer('a', {})
    for (const c of o.reveal('a', 0)) { o.onSent('a', c); o.onPeerHave('a', c) }
    expect(o.allSent).toBe(true)
    o.addPeer('b', {})
    expect(o.reveal('b', 100)).toEqual([]) // all held by a: b is to get them there
    expect(o.reveal('b', 9000)).toEqual([]) // starving for serves, not yet for reveals
    expect(o.reveal('b', 10_100).sort()).toEqual([0, 1, 2, 3])
    expect(o.serves('b', 0, 10_100)).toBe(true)
    o.onSent('b', 0)
    o.onPeerHave('b', 0)
    expect(o.serves('b', 1, 10_200)).toBe(true) // what we sent proves nothing: a may still be out of its reach
    o.onPeerHave('b', 1) // it got this one elsewhere: held chunks are a's to give once more
    expect(o.serves('b', 2, 10_300)).toBe(false)
  })

  it('after the first pass, still reveals nothing to other zones until its own zone is complete', () => {
    const o = origin(4, 4, { zone: 'a', farRevealWindow: 0 })
    o.addPeer('near', { zone: 'a' })
    o.addPeer('far', { zone: 'b' })
    while (!o.allSent) for (const c of o.reveal('near', 0)) o.onSent('near', c)
    o.onPeerHave('near', 0)
    o.onPeerHave('near', 1)
    expect(o.allSent).toBe(true)
    expect(o.reveal('far', 1)).toEqual([]) // near holds 0 and 1, but still lacks 2 and 3
    o.onPeerHave('near', 2)
    o.removePeer('near') // chunks 0-2 now held by nobody: lost
    o.addPeer('near2', { zone: 'a' })
    expect(o.reveal('far', 2).sort()).toEqual([0, 1, 2, 3]) // lost chunks are shown to anyone
  })

  it('reveals to other zones only a trickle while its own zone still needs chunks', () => {
    const o = origin(20, 4, { zone: 'a', farRevealWindow: 1 })
    o.addPeer('near', { zone: 'a' })
    o.addPeer('far', { zone: 'b' })
    expect(o.reveal('near', 0)).toHaveLength(4)
    expect(o.reveal('far', 0)).toHaveLength(1)
    const lone = origin(20, 4, { zone: 'a', farRevealWindow: 1 })
    lone.addPeer('far', { zone: 'b' })
    expect(lone.reveal('far', 0)).toHaveLength(4) // nobody near: full window
  })
})

describe('origin full service', () => {
  const G = 1e9
  function fullOrigin (n: number, uplinkBps?: number) {
    return createOriginPolicy({ chunkCount: n, rng: seededRng(5), uplinkBps, config: { revealWindow: 2, fullServiceSettleMs: 1000 } })
  }

  it('once no peer joined for the settle time, reveals everything when its upload covers every host at its link rate', () => {
    const o = fullOrigin(20, 10 * G)
    for (const p of ['a', 'b', 'c', 'd']) o.addPeer(p, { linkBps: G })
    expect(o.reveal('a', 0)).toHaveLength(2) // a window, as for any deployment at first
    for (const p of ['b', 'c', 'd']) o.reveal(p, 100)
    expect(o.fullService('a', 900)).toBe(false)
    expect(o.fullService('a', 1100)).toBe(true)
    const all = o.reveal('a', 1100)
    expect(all).toHaveLength(18) // the rest, in one go
    expect(new Set([...all, ...o.reveal('a', 1200)]).size).toBe(18)
  })

  it('stays sparing when the hosts together out-pull its upload, or a rate is unknown, or its own is', () => {
    const big = fullOrigin(20, 10 * G)
    for (let i = 0; i < 11; i++) { big.addPeer(`h${i}`, { linkBps: G }); big.reveal(`h${i}`, 0) }
    expect(big.fullService('h0', 5000)).toBe(false)
    expect(big.reveal('h0', 5000).length).toBeLessThanOrEqual(2)

    const unknown = fullOrigin(20, 10 * G)
    unknown.addPeer('a', { linkBps: G })
    unknown.addPeer('b', {})
    expect(unknown.fullService('a', 5000)).toBe(false)

    const unstated = fullOrigin(20)
    unstated.addPeer('a', { linkBps: G })
    expect(unstated.fullService('a', 5000)).toBe(false)
  })

  it('never offers it to another zone, whose chunks would cross the boundary once per host', () => {
    const o = createOriginPolicy({ chunkCount: 20, rng: seededRng(5), zone: 'a', uplinkBps: 10 * G, config: { revealWindow: 2, farRevealWindow: 1, fullServiceSettleMs: 1000 } })
    o.addPeer('near', { zone: 'a', linkBps: G })
    o.addPeer('far', { zone: 'b', linkBps: G })
    o.reveal('near', 0)
    o.reveal('far', 0)
    expect(o.fullService('near', 2000)).toBe(true)
    expect(o.fullService('far', 2000)).toBe(false)
    expect(o.reveal('far', 2000).length).toBeLessThanOrEqual(1)
  })

  it('falls back to sparing when more hosts join, and stays so until that deployment is done', () => {
    const o = fullOrigin(4, 2 * G)
    o.addPeer('a', { linkBps: G })
    o.addPeer('b', { linkBps: G })
    o.reveal('a', 0)
    o.reveal('b', 0)
    expect(o.fullService('a', 1000)).toBe(true)
    expect(o.serves('b', 0, 1000)).toBe(true)
    o.addPeer('c', { linkBps: G })
    o.reveal('c', 1500)
    expect(o.fullService('a', 1500)).toBe(false)
    for (let c = 0; c < 4; c++) o.onPeerHave('a', c) // a is done; b and c alone would fit, but the deployment was too big
    expect(o.fullService('b', 4000)).toBe(false)
    expect(o.serves('b', 0, 4000)).toBe(false) // a holds it
    for (const p of ['b', 'c']) for (let c = 0; c < 4; c++) o.onPeerHave(p, c)
    o.addPeer('d', { linkBps: G }) // a new, small deployment
    o.reveal('d', 6000)
    expect(o.fullService('d', 7000)).toBe(true)
    expect(o.serves('d', 0, 7000)).toBe(true)
  })
})

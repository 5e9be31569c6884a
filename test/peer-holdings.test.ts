/** What peers hold, per peer; and which of two links to one peer both sides keep. */
import { describe, expect, it } from 'vitest'
import { PeerHoldings, resolveSecondLink } from '../src/node/peer-holdings.js'
import { Bitfield } from '../src/util/bitfield.js'

describe('PeerHoldings', () => {
  it('merges HELLOs and HAVEs per peer, ignores a bitfield of another length, and forgets', () => {
    const h = new PeerHoldings(20)
    const hello = new Bitfield(20)
    hello.set(3); hello.set(17)
    expect([...h.addHello('p', hello.bytes).indexes()]).toEqual([3, 17])
    h.of('p').set(5)
    expect([...h.addHello('p', new Bitfield(40).bytes).indexes()]).toEqual([3, 5, 17])
    expect(h.countOf('p')).toBe(3)
    expect(h.countOf('q')).toBe(0)
    h.forget('p')
    expect(h.countOf('p')).toBe(0)
  })
})

describe('resolveSecondLink', () => {
  it('keeps, on both sides, the crossing link the lower peer id opened', () => {
    // a < b. a's view: its own dial (local) against b's dial (remote).
    const aKeepsB = resolveSecondLink('a', { initiator: 'remote', peer: 'b' }, { initiator: 'local', peer: 'b' })
    const bKeepsA = resolveSecondLink('b', { initiator: 'local', peer: 'a' }, { initiator: 'remote', peer: 'a' })
    expect(aKeepsB).toEqual({ keepNew: false, crossing: true })
    expect(bKeepsA).toEqual({ keepNew: false, crossing: true })
    // The same two links arriving in the other order: both sides now take the new one, a's.
    expect(resolveSecondLink('a', { initiator: 'local', peer: 'b' }, { initiator: 'remote', peer: 'b' })).toEqual({ keepNew: true, crossing: true })
    expect(resolveSecondLink('b', { initiator: 'remote', peer: 'a' }, { initiator: 'local', peer: 'a' })).toEqual({ keepNew: true, crossing: true })
  })

  it('replaces a stale link the same side opened', () => {
    expect(resolveSecondLink('a', { initiator: 'remote', peer: 'b' }, { initiator: 'remote', peer: 'b' })).toEqual({ keepNew: true, crossing: false })
    expect(resolveSecondLink('a', { initiator: 'local', peer: 'b' }, { initiator: 'local', peer: 'b' })).toEqual({ keepNew: true, crossing: false })
  })
})

/**
 * The zone partition (rendezvous hashing): one owner per chunk for one view
 * of the zone, and views that differ by a member still agree on nearly every
 * owner, so zone-mates with different views rarely fetch the same chunk
 * across the switch.
 */
import { describe, expect, it } from 'vitest'
import { ZonePartition } from '../src/policy/zone-partition.js'

const CHUNKS = 2000
const members = Array.from({ length: 8 }, (_, i) => `12D3KooWmember${i}`)

function partition (self: string, view: string[]): ZonePartition {
  const p = new ZonePartition(self)
  for (const m of view) p.add(m)
  return p
}

/** The member that owns each chunk, as each member of the view computes it for itself. */
function owners (view: string[]): string[] {
  const parts = view.map(m => partition(m, view))
  return Array.from({ length: CHUNKS }, (_, c) => {
    const own = view.filter((_, i) => parts[i].owns(c))
    expect(own).toHaveLength(1)
    return own[0]
  })
}

describe('zone partition', () => {
  it('gives every chunk exactly one owner and a full line of successors', () => {
    const parts = members.map(m => partition(m, members))
    const load = new Map<string, number>()
    for (let c = 0; c < CHUNKS; c++) {
      const d = parts.map(p => p.distance(c)).sort((a, b) => a - b)
      expect(d).toEqual(members.map((_, i) => i))
      const owner = members[parts.findIndex(p => p.owns(c))]
      load.set(owner, (load.get(owner) ?? 0) + 1)
    }
    // Spread evenly: each of 8 members owns about 250 of 2000 chunks.
    for (const n of load.values()) expect(n).toBeGreaterThan(180)
  })

  it('moves only the chunks of a member that joins, not the rest', () => {
    const before = owners(members)
    const joined = [...members, '12D3KooWlatecomer']
    const after = owners(joined)
    let moved = 0
    for (let c = 0; c < CHUNKS; c++) {
      if (after[c] !== before[c]) {
        moved++
        expect(after[c]).toBe('12D3KooWlatecomer')
      }
    }
    // About 1/9 of the chunks go to the newcomer.
    expect(moved / CHUNKS).toBeGreaterThan(0.07)
    expect(moved / CHUNKS).toBeLessThan(0.16)
  })

  it('counts every chunk as ours without a self key', () => {
    const p = new ZonePartition()
    p.add('someone')
    expect(p.active).toBe(false)
    expect(p.owns(5)).toBe(true)
  })
})

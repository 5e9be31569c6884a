/**
 * libtorrent-style fixtures for policy tests: one character per chunk.
 * Availability "2213" makes peers p0..p2 where chunk i is held by the first
 * avail[i] of them (so p0 holds every chunk anyone holds); have "* * " marks
 * chunks we already hold.
 */
import { Bitfield } from '../src/util/bitfield.js'
import { createDownloadPolicy, seededRng } from '../src/policy/index.js'
import type { DownloadConfig, DownloadPolicy, PeerMeta } from '../src/policy/index.js'

export const MiB = 1024 * 1024

export function bits (pattern: string): Bitfield {
  const bf = new Bitfield(pattern.length)
  for (let i = 0; i < pattern.length; i++) if (pattern[i] !== ' ' && pattern[i] !== '.' && pattern[i] !== '0') bf.set(i)
  return bf
}

export interface Fixture { dp: DownloadPolicy, peers: string[] }

export function setupPicker (avail: string, have = '', opts: {
  config?: Partial<DownloadConfig>, seed?: number, zone?: string, self?: string, meta?: (peer: string) => PeerMeta
} = {}): Fixture {
  const n = avail.length
  const haveBf = bits(have.padEnd(n, ' '))
  const dp = createDownloadPolicy({
    chunkCount: n,
    chunkBytes: MiB,
    have: haveBf,
    zone: opts.zone,
    self: opts.self,
    rng: seededRng(opts.seed ?? 1),
    config: { randomFirstPicks: 0, ...opts.config }
  })
  const counts = [...avail].map(ch => Number.parseInt(ch, 36))
  const max = Math.max(0, ...counts)
  const peers: string[] = []
  for (let j = 0; j < max; j++) {
    const key = `p${j}`
    peers.push(key)
    dp.addPeer(key, opts.meta?.(key) ?? {}, 0)
    dp.onBitfield(key, bits(counts.map(a => (a > j ? '*' : ' ')).join('')))
  }
  return { dp, peers }
}

/** Choke every peer but the ones named. */
export function only (f: Fixture, ...keep: string[]): void {
  for (const p of f.peers) f.dp.onChoke(p, !keep.includes(p), 0)
}

export function chunks (reqs: Array<{ chunk: number }>): number[] {
  return reqs.map(r => r.chunk)
}

/**
 * The two ways to find a chunk for one peer: walk availability buckets from
 * the rarest level up (cheap when the peer holds rare chunks, which is the
 * common case), or walk the peer's bitfield against ours (bounded by the
 * chunk count / 8, used when the bucket walk runs over its budget).
 */
import { randomInt } from './rng.js'
import type { ChunkBuckets } from './chunk-buckets.js'
import type { Rng } from './types.js'

export const EXHAUSTED = -2
export const NONE = -1

/** Whether the peer's bitfield bytes hold `chunk` (inlined Bitfield.has). */
export function hasBit (bytes: Uint8Array, chunk: number): boolean {
  return (bytes[chunk >> 3] & (0x80 >> (chunk & 7))) !== 0
}

export interface Budget { left: number }

/**
 * First chunk, rarest level first and from a random point inside each level
 * (random tie-break), that the peer holds and `ok` accepts. Returns NONE when
 * there is none, EXHAUSTED when the budget ran out first.
 */
export function scanBuckets (
  pool: ChunkBuckets, fromLevel: number, peerBytes: Uint8Array,
  ok: ((chunk: number) => boolean) | undefined, rng: Rng, budget: Budget
): number {
  for (let lvl = fromLevel; lvl < pool.levels; lvl++) {
    const b = pool.bucket(lvl)
    const n = b.length
    if (n === 0) continue
    let i = randomInt(rng, n)
    for (let k = 0; k < n; k++, i++) {
      if (i >= n) i = 0
      const c = b[i]
      if (hasBit(peerBytes, c) && (ok === undefined || ok(c))) return c
      if (--budget.left <= 0) return EXHAUSTED
    }
  }
  return NONE
}

/**
 * Among chunks the peer has and we lack, the one with the lowest `key`
 * (negative key = not eligible), ties broken uniformly at random.
 */
export function scanBitfield (
  peerBytes: Uint8Array, ourBytes: Uint8Array, chunkCount: number,
  key: (chunk: number) => number, rng: Rng
): number {
  let best = NONE
  let bestKey = Infinity
  let ties = 0
  for (let i = 0; i < peerBytes.length; i++) {
    let x = peerBytes[i] & ~ourBytes[i] & 0xff
    while (x !== 0) {
      const bit = Math.clz32(x) - 24
      x &= ~(0x80 >> bit) & 0xff
      const c = (i << 3) + bit
      if (c >= chunkCount) break
      const k = key(c)
      if (k < 0 || k > bestKey) continue
      if (k < bestKey) {
        bestKey = k
        best = c
        ties = 1
      } else if (rng() * ++ties < 1) {
        best = c
      }
    }
  }
  return best
}

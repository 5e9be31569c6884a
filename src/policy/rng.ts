import type { Rng } from './types.js'

/** mulberry32: a small, fast generator whose whole state is one 32-bit word. */
export function mulberry32 (seed: number): Rng {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * The policy's seeded generator. Policy code never calls Math.random();
 * drivers pass one of these (or any `() => [0,1)`), so a run is reproducible
 * from its seed.
 */
export function seededRng (seed: number): Rng {
  return mulberry32(seed ^ 0x6d2b79f5)
}

/** An integer in [0, n). */
export function randomInt (rng: Rng, n: number): number {
  return Math.floor(rng() * n) % Math.max(1, n)
}

/** Fisher-Yates shuffle in place. */
export function shuffle<T> (items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1)
    const t = items[i]
    items[i] = items[j]
    items[j] = t
  }
  return items
}

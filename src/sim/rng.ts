// The simulator's layouts and timer offsets use the policy's generator.
export { mulberry32 } from '../policy/rng.js'

/** Mix a run seed with a host index into an independent stream's seed. */
export function subSeed (seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0
  return (h ^ (h >>> 16)) >>> 0
}

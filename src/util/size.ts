/**
 * Sizes as operators write them: 899MB and 9.77GB (decimal), 1MiB and 256KiB
 * (binary; a bare k/m/g/t is binary too), 4096 or 1.5e6 (bytes). The one
 * parser for the CLI, the benchmarks and the simulator's scenarios.
 */
import { UsageError } from '../errors.js'

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kb: 1000, kib: 1024,
  m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3,
  t: 1024 ** 4, tb: 1000 ** 4, tib: 1024 ** 4
}

/** Parse a byte size; a number is taken as bytes already. */
export function parseSize (text: string | number): number {
  if (typeof text === 'number') return text
  const m = /^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*$/.exec(text)
  const unit = m == null ? undefined : UNITS[m[2].toLowerCase()]
  if (m == null || unit == null) throw new UsageError(`not a size: "${text}" (examples: 4096, 256KiB, 1MiB, 899MB, 9.77GB)`)
  return Math.round(Number(m[1]) * unit)
}

/** The first `max` items, and '...' for the rest: chunk indexes in a one-line message. */
export function listFew (items: readonly number[], max = 8): string {
  return items.slice(0, max).join(', ') + (items.length > max ? ', ...' : '')
}

export function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = 0
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`
}

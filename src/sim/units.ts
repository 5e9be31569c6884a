/**
 * Rates as people write them (sizes: src/util/size.ts):
 * "1Gbit/s" or "10Gbps" (bits per second). Everything inside the simulator is
 * bytes and bytes per second.
 */
import { UsageError } from '../errors.js'
import { parseSize } from '../util/size.js'

const RATE_UNITS: Record<string, number> = {
  bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9, tbit: 1e12,
  bps: 1, kbps: 1e3, mbps: 1e6, gbps: 1e9, tbps: 1e12
}

/** Parse a link rate to bytes per second; a bare number is bytes per second. */
export function parseRate (text: string | number): number {
  if (typeof text === 'number') return text
  const m = /^\s*([0-9]*\.?[0-9]+)\s*([a-z]+)(\/s)?\s*$/i.exec(text)
  const mult = m == null ? undefined : RATE_UNITS[m[2].toLowerCase()]
  if (m == null || mult === undefined) {
    // Byte rates such as "125MB/s".
    const b = /^\s*(.+?)\/s\s*$/i.exec(text)
    if (b != null) return parseSize(b[1])
    throw new UsageError(`cannot read rate "${text}": write e.g. 1Gbit/s, 10Gbps or 125MB/s`)
  }
  return Number(m[1]) * mult / 8
}

export function formatBytes (n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / 1024 / 1024} MiB`
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`
  return `${n} B`
}

/** Chunk sizes read best in binary units (256 KiB, 1 MiB, 16 MiB). */
export function formatChunk (n: number): string {
  if (n % (1024 * 1024) === 0) return `${n / 1024 / 1024} MiB`
  if (n % 1024 === 0) return `${n / 1024} KiB`
  return `${n} B`
}

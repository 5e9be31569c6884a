/**
 * The network thread's scheduler counters, for the compression gate
 * (policy/compression-gate.ts): how long this thread ran and how long it
 * waited for a core. Linux keeps both per thread in /proc/thread-self/schedstat
 * (nanoseconds); a read costs a few microseconds.
 */
import { readFileSync } from 'node:fs'
import type { CpuSample } from '../policy/compression-gate.js'

const SCHEDSTAT = '/proc/thread-self/schedstat'

/**
 * A reader of this thread's counters, or undefined where the system keeps no
 * such thing (not Linux, or schedstats unavailable): the gate then stays open.
 */
export function threadCpuClock (path = SCHEDSTAT): (() => CpuSample | undefined) | undefined {
  const read = (): CpuSample | undefined => {
    let text: string
    try { text = readFileSync(path, 'latin1') } catch { return undefined }
    const [run, wait] = text.trim().split(/\s+/).map(Number)
    if (!Number.isFinite(run) || !Number.isFinite(wait)) return undefined
    return { atMs: performance.now(), runMs: run / 1e6, waitMs: wait / 1e6 }
  }
  return read() == null ? undefined : read
}

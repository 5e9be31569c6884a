/** The sweep: the paper's figures at scaled rates. */
import type { RunOptions } from './run.js'

export interface SweepStep { name: string, options: Partial<RunOptions> }

export const SWEEP_HOSTS = [1, 2, 4, 8, 16, 24]
export const LARGE_MIB = 64
/** 899 MB / 9.77 GB of the paper's images, applied to 64 MiB, rounded up. */
export const SMALL_MIB = 8
export const CHUNK_KIB = [256, 1024, 4096]

/** With `imageFile` (a real disk image, say) the sweep is that image at every N, and nothing else. */
export function sweepPlan (quick: boolean, only?: string[], imageFile?: string): SweepStep[] {
  const hosts = quick ? [1, 2, 4, 8] : SWEEP_HOSTS
  if (imageFile !== undefined) return hosts.map(n => ({ name: `${imageFile} N=${n}`, options: { hosts: n } }))
  const large = quick ? 16 : LARGE_MIB
  const want = (k: string): boolean => only === undefined || only.includes(k)
  const steps: SweepStep[] = []
  if (want('large')) for (const n of hosts) steps.push({ name: `large N=${n}`, options: { hosts: n, imageMiB: large } })
  if (want('small')) for (const n of hosts) steps.push({ name: `small N=${n}`, options: { hosts: n, imageMiB: SMALL_MIB } })
  const nChunk = quick ? 8 : 16
  if (want('chunk')) for (const c of CHUNK_KIB) steps.push({ name: `chunk ${c} KiB N=${nChunk}`, options: { hosts: nChunk, imageMiB: large, chunkBytes: c * 1024 } })
  if (want('switches')) steps.push({ name: `two switches N=${nChunk}`, options: { hosts: nChunk, imageMiB: large, switches: 2 } })
  if (want('vm')) steps.push({ name: `vm-like image N=${nChunk}`, options: { hosts: nChunk, imageMiB: large, imageKind: 'vm' } })
  return steps
}

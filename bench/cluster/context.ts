/** What the phases of one run share. */
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ProcessRegistry } from './procs.js'
import type { Topology } from './topology.js'

export interface RunContext {
  topo: Topology
  procs: ProcessRegistry
  /** Scratch directory of this run (per-node sub-directories). */
  dir: string
  imagePath: string
  imageBytes: number
  imageSha: string
  tMinS: number
  /** performance.now() after which the run must give up. */
  deadline: number
  /** The run's label (sweep name), prefixed to timeline file names. */
  label: string
  /** Write per-phase timeline charts to bench/cluster/timelines/. */
  timelines: boolean
  /** Suffix naming non-default settings (chunk size, image kind) in file names. */
  variant: string
  log: (line: string) => void
}

/** Remaining time budget in ms (at least 1 s, so commands still get a sane timeout). */
export function remainingMs (ctx: RunContext): number {
  return Math.max(1000, ctx.deadline - performance.now())
}

/** The repository root (works from bench/cluster/*.ts and from dist/bench/cluster/*.js). */
export function repoRoot (): string {
  let d = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'bench', 'cluster'))) return d
    d = resolve(d, '..')
  }
  throw new Error('repository root not found')
}

/** A Node >= 22 binary: the one running us, or the project's node_modules one. */
export function nodeBinary (): string {
  if (Number(process.versions.node.split('.')[0]) >= 22) return process.execPath
  return join(repoRoot(), 'node_modules', '.bin', 'node')
}

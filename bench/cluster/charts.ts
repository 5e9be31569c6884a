/** The paper's figures from the results file: makespan and front-end traffic against N. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RunContext } from './context.js'
import { repoRoot } from './context.js'
import type { RunRecord } from './metrics.js'
import { type Timeline, timelineSeries } from './sampler.js'
import { type Series, lineChart } from './svg.js'

export function readResults (file: string): RunRecord[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter(l => l.trim() !== '').map(l => JSON.parse(l) as RunRecord)
}

/** Whether a run's daemons were started with compression off. */
const uncompressed = (r: RunRecord): boolean => r.daemonArgs?.includes('--no-compress') === true

/** Plain runs (one switch, default chunk) of one image, the latest per N among those `keep` takes. */
function byN (records: RunRecord[], kind: string, mib: number, keep: (r: RunRecord) => boolean): RunRecord[] {
  const m = new Map<number, RunRecord>()
  for (const r of records) {
    if (r.imageKind === kind && r.imageMiB === mib && r.switches === 1 && r.chunkBytes === null && keep(r)) m.set(r.hosts, r)
  }
  return [...m.values()].sort((a, b) => a.hosts - b.hosts)
}

const pts = (rs: RunRecord[], f: (r: RunRecord) => number | undefined): Array<[number, number]> =>
  rs.map(r => [r.hosts, f(r)] as [number, number | undefined]).filter((p): p is [number, number] => p[1] !== undefined && Number.isFinite(p[1]))

/**
 * Writes the charts for the records with the given label (all if none);
 * returns the files. One pair per image: generated random images by size,
 * and each `--image-file`, with a second imgp2p line for runs with
 * compression off when there are any.
 */
export function writeCharts (resultsFile: string, outDir: string, label?: string): string[] {
  const records = readResults(resultsFile).filter(r => label === undefined || r.label === label)
  mkdirSync(outDir, { recursive: true })
  const files: string[] = []
  const images = new Map<string, { kind: string, mib: number }>()
  for (const r of [...records].sort((a, b) => b.imageMiB - a.imageMiB)) {
    if (r.imageKind === 'random' || r.imageKind.startsWith('file:')) images.set(`${r.imageKind} ${r.imageMiB}`, { kind: r.imageKind, mib: r.imageMiB })
  }
  for (const { kind, mib } of images.values()) {
    const rs = byN(records, kind, mib, r => !uncompressed(r))
    const plain = byN(records, kind, mib, uncompressed)
    const http = byN(records, kind, mib, r => r.http.ok)
    if (Math.max(rs.length, plain.length) < 2) continue
    const rate = `B=${(rs[0] ?? plain[0]).hostMbit}, F=${(rs[0] ?? plain[0]).frontMbit} Mbit/s`
    const name = kind === 'random' ? `${mib}MiB` : kind.slice('file:'.length).replace(/[^\w.-]/g, '_')
    const what = kind === 'random' ? `${mib} MiB image` : `${kind.slice('file:'.length)} (${mib} MiB)`
    const withPlain = (series: Series[], f: (r: RunRecord) => number | undefined): Series[] => plain.length === 0
      ? series
      : [series[0], { name: 'imgp2p --no-compress', color: '#2ca02c', points: pts(plain, f) }, ...series.slice(1)]
    const ms = (r: RunRecord): number | undefined => r.imgp2p.ok ? r.imgp2p.makespanS : undefined
    const makespan = withPlain([
      { name: 'imgp2p', color: '#1f77b4', points: pts(rs, ms) },
      { name: 'HTTP unicast', color: '#d62728', points: pts(http, r => r.http.makespanS) },
      { name: 'T_min', color: '#555', dashed: true, points: pts([...rs, ...plain], r => r.tMinS) }
    ], ms)
    const f1 = join(outDir, `${label ?? 'all'}-makespan-${name}.svg`)
    writeFileSync(f1, lineChart({ title: `Makespan, ${what} (${rate})${label !== undefined ? `, ${label}` : ''}`, xLabel: 'hosts N', yLabel: 'seconds', series: makespan }))
    const fe = (r: RunRecord): number | undefined => r.imgp2p.ok ? r.imgp2p.feBytesPerImage : undefined
    const traffic = withPlain([
      { name: 'imgp2p', color: '#1f77b4', points: pts(rs, fe) },
      { name: 'HTTP unicast', color: '#d62728', points: pts(http, r => r.http.feBytesPerImage) },
      { name: 'one image', color: '#555', dashed: true, points: [...rs, ...plain].map(r => [r.hosts, 1] as [number, number]) }
    ], fe)
    const f2 = join(outDir, `${label ?? 'all'}-frontend-traffic-${name}.svg`)
    writeFileSync(f2, lineChart({ title: `Front-end bytes / image, ${what} (${rate})${label !== undefined ? `, ${label}` : ''}`, xLabel: 'hosts N', yLabel: 'x image size', series: traffic }))
    files.push(f1, f2)
  }
  return files
}

/** Writes a phase's timeline chart and data to bench/cluster/timelines/ (latest per label and configuration). */
export function saveTimeline (ctx: RunContext, phase: string, tl: Timeline): string | undefined {
  if (!ctx.timelines) return undefined
  const o = ctx.topo.opts
  const dir = join(repoRoot(), 'bench', 'cluster', 'timelines')
  mkdirSync(dir, { recursive: true })
  const mib = +(ctx.imageBytes / 2 ** 20).toFixed(1)
  const file = join(dir, `${ctx.label}-${phase}-N${o.hosts}-${mib}MiB-sw${o.switches}-B${o.hostMbit}${ctx.variant}.svg`)
  writeFileSync(file, lineChart({
    title: `${phase}: N=${o.hosts}, ${mib} MiB, B=${o.hostMbit} F=${o.frontMbit} Mbit/s, T_min ${ctx.tMinS.toFixed(1)} s`,
    xLabel: 'seconds since start', yLabel: 'MiB on the wire', series: timelineSeries(tl), noMarkers: true
  }))
  writeFileSync(file.replace(/\.svg$/, '.json'), JSON.stringify(tl))
  return file
}

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

/** Plain runs (one switch, random image, default chunk) of one image size, the latest per N. */
function byN (records: RunRecord[], mib: number): RunRecord[] {
  const m = new Map<number, RunRecord>()
  for (const r of records) {
    if (r.imageMiB === mib && r.switches === 1 && r.imageKind === 'random' && r.chunkBytes === null) m.set(r.hosts, r)
  }
  return [...m.values()].sort((a, b) => a.hosts - b.hosts)
}

const pts = (rs: RunRecord[], f: (r: RunRecord) => number | undefined): Array<[number, number]> =>
  rs.map(r => [r.hosts, f(r)] as [number, number | undefined]).filter((p): p is [number, number] => p[1] !== undefined && Number.isFinite(p[1]))

/** Writes the charts for the records with the given label (all if none); returns the files. */
export function writeCharts (resultsFile: string, outDir: string, label?: string): string[] {
  const records = readResults(resultsFile).filter(r => label === undefined || r.label === label)
  mkdirSync(outDir, { recursive: true })
  const files: string[] = []
  const sizes = [...new Set(records.map(r => r.imageMiB))].sort((a, b) => b - a)
  for (const mib of sizes) {
    const rs = byN(records, mib)
    if (rs.length < 2) continue
    const rate = `B=${rs[0].hostMbit}, F=${rs[0].frontMbit} Mbit/s`
    const makespan: Series[] = [
      { name: 'imgp2p', color: '#1f77b4', points: pts(rs, r => r.imgp2p.ok ? r.imgp2p.makespanS : undefined) },
      { name: 'HTTP unicast', color: '#d62728', points: pts(rs, r => r.http.ok ? r.http.makespanS : undefined) },
      { name: 'T_min', color: '#555', dashed: true, points: pts(rs, r => r.tMinS) }
    ]
    const f1 = join(outDir, `${label ?? 'all'}-makespan-${mib}MiB.svg`)
    writeFileSync(f1, lineChart({ title: `Makespan, ${mib} MiB image (${rate})${label !== undefined ? `, ${label}` : ''}`, xLabel: 'hosts N', yLabel: 'seconds', series: makespan }))
    const traffic: Series[] = [
      { name: 'imgp2p', color: '#1f77b4', points: pts(rs, r => r.imgp2p.ok ? r.imgp2p.feBytesPerImage : undefined) },
      { name: 'HTTP unicast', color: '#d62728', points: pts(rs, r => r.http.ok ? r.http.feBytesPerImage : undefined) },
      { name: 'one image', color: '#555', dashed: true, points: rs.map(r => [r.hosts, 1] as [number, number]) }
    ]
    const f2 = join(outDir, `${label ?? 'all'}-frontend-traffic-${mib}MiB.svg`)
    writeFileSync(f2, lineChart({ title: `Front-end bytes / image, ${mib} MiB (${rate})${label !== undefined ? `, ${label}` : ''}`, xLabel: 'hosts N', yLabel: 'x image size', series: traffic }))
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

/**
 * Simulator sweeps, written as CSV and SVG under bench/sim/results/:
 * - makespan against N (1..72) for both paper images, with T_min and an ideal
 *   unicast line (max(S/d, N*S/u_s)); front-end bytes against N;
 * - chunk size 256 KiB..16 MiB at N = 60 (the paper's piece-size experiment).
 * Each point runs in its own process (bench/sim/point.js), --jobs at a time.
 *
 * node dist/bench/sim/sweep.js [--only n|chunk|scale] [--jobs 2] [--out DIR] [--hosts-list 1,2,4]
 *   [--variant V] [--set path=value]...
 */
import { execFile } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs, promisify } from 'node:util'
import { lineChart } from './svg.js'
import { formatChunk, parseRate } from '../../src/sim/units.js'
import { parseSize } from '../../src/util/size.js'

const run = promisify(execFile)
const here = dirname(fileURLToPath(import.meta.url))
const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    jobs: { type: 'string', default: '2' },
    out: { type: 'string', default: join(here, '..', '..', '..', 'bench', 'sim', 'results') },
    'hosts-list': { type: 'string', default: '1,2,4,8,12,16,20,24,32,40,48,56,64,72' },
    'chunk-hosts': { type: 'string', default: '60' },
    variant: { type: 'string', default: 'none' },
    set: { type: 'string', multiple: true, default: [] }
  }
})

type Row = Record<string, number | string>
const FE_UP = parseRate('10Gbit/s')
const HOST_D = parseRate('1Gbit/s')

async function pool<T, R> (items: T[], jobs: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  await Promise.all(Array.from({ length: jobs }, async () => {
    while (next < items.length) { const i = next++; out[i] = await fn(items[i]) }
  }))
  return out
}

async function point (args: string[]): Promise<Row> {
  const extra = [`--variant=${values.variant}`, ...values.set.map(s => `--set=${s}`)]
  const { stdout } = await run(process.execPath, [join(here, 'point.js'), ...args, ...extra], { maxBuffer: 1 << 24 })
  const r = JSON.parse(stdout) as Row
  process.stderr.write(`${args.join(' ')}: makespan ${r.makespanSeconds} s (x${r.makespanRatio}), fe x${r.frontEndRatio}, iz x${r.interZoneRatio}, ${r.cpuSeconds} s cpu\n`)
  return r
}

const COLS = ['image', 'imageBytes', 'hosts', 'chunkBytes', 'makespanSeconds', 'tMinSeconds', 'makespanRatio', 'idealUnicastSeconds',
  'meanSeconds', 'p95Seconds', 'spreadSeconds', 'frontEndBytes', 'frontEndRatio', 'interZoneBytes', 'interZoneRatio', 'duplicateBytes',
  'deliveries', 'wallSeconds', 'cpuSeconds']

function csv (rows: Row[]): string {
  return [COLS.join(','), ...rows.map(r => COLS.map(c => r[c] ?? '').join(','))].join('\n') + '\n'
}

async function nSweep (): Promise<void> {
  const ns = values['hosts-list'].split(',').map(Number)
  const images = ['9.77GB', '899MB']
  const jobs = images.flatMap(image => ns.map(n => ({ image, n })))
  const rows = await pool(jobs, Number(values.jobs), async ({ image, n }): Promise<Row> => {
    const r = await point(['--scenario=paper', `--hosts=${n}`, `--image-size=${image}`])
    const S = parseSize(image)
    return { ...r, image, idealUnicastSeconds: Math.round(Math.max(S / HOST_D, n * S / FE_UP) * 1000) / 1000 }
  })
  writeFileSync(join(values.out, 'n-sweep.csv'), csv(rows))
  for (const image of images) {
    const rs = rows.filter(r => r.image === image)
    const pts = (k: string): Array<[number, number]> => rs.map(r => [Number(r.hosts), Number(r[k])])
    writeFileSync(join(values.out, `makespan-vs-n-${image}.svg`), lineChart({
      title: `Makespan against hosts, ${image} image (paper testbed)`,
      xLabel: 'hosts (N)',
      yLabel: 'seconds',
      series: [
        { name: 'imgp2p makespan (sim)', points: pts('makespanSeconds'), color: '#1f6fb4' },
        { name: 'imgp2p mean per host', points: pts('meanSeconds'), color: '#7fb2e0' },
        { name: 'T_min (Kumar-Ross)', points: pts('tMinSeconds'), color: '#2a9d3a', dashed: true, markers: false },
        { name: 'ideal unicast max(S/d, N S/u_s)', points: pts('idealUnicastSeconds'), color: '#d9532b', dashed: true, markers: false }
      ]
    }))
  }
  writeFileSync(join(values.out, 'frontend-vs-n.svg'), lineChart({
    title: 'Front-end bytes sent / image size, against hosts',
    xLabel: 'hosts (N)',
    yLabel: 'front-end bytes / image',
    series: [
      ...images.map((image, i) => ({
        name: `imgp2p, ${image}`,
        points: rows.filter(r => r.image === image).map(r => [Number(r.hosts), Number(r.frontEndRatio)] as [number, number]),
        color: ['#1f6fb4', '#8e44ad'][i]
      })),
      { name: 'unicast (N x image)', points: ns.filter(n => n <= 8).map(n => [n, n] as [number, number]), color: '#d9532b', dashed: true, markers: false }
    ]
  }))
}

async function chunkSweep (): Promise<void> {
  const sizes = ['256KiB', '512KiB', '1MiB', '2MiB', '4MiB', '8MiB', '16MiB']
  const n = Number(values['chunk-hosts'])
  const rows = await pool(sizes, Number(values.jobs), async (size): Promise<Row> => ({
    ...await point(['--scenario=paper', `--hosts=${n}`, '--image-size=9.77GB', `--chunk-size=${size}`]),
    image: '9.77GB'
  }))
  writeFileSync(join(values.out, 'chunk-sweep.csv'), csv(rows))
  const pts = (k: string): Array<[number, number]> => rows.map(r => [Number(r.chunkBytes), Number(r[k])])
  writeFileSync(join(values.out, 'chunk-sweep.svg'), lineChart({
    title: `Chunk size sweep, ${n} hosts, 9.77 GB image (paper testbed)`,
    xLabel: 'chunk size',
    yLabel: 'seconds',
    logX: true,
    xTickFormat: formatChunk,
    series: [
      { name: 'makespan', points: pts('makespanSeconds'), color: '#1f6fb4' },
      { name: 'mean per host', points: pts('meanSeconds'), color: '#7fb2e0' },
      { name: 'T_min', points: pts('tMinSeconds'), color: '#2a9d3a', dashed: true, markers: false }
    ]
  }))
  const best = (k: string): Row => rows.reduce((a, b) => Number(b[k]) < Number(a[k]) ? b : a)
  const spread = (k: string, lo: number, hi: number): number => {
    const v = rows.filter(r => Number(r.chunkBytes) >= lo && Number(r.chunkBytes) <= hi).map(r => Number(r[k]))
    return Math.round((Math.max(...v) / Math.min(...v) - 1) * 1000) / 10
  }
  const summary = {
    hosts: n,
    bestMakespan: formatChunk(Number(best('makespanSeconds').chunkBytes)),
    bestMean: formatChunk(Number(best('meanSeconds').chunkBytes)),
    makespanSpreadPct256KiBto8MiB: spread('makespanSeconds', 256 * 1024, 8 << 20),
    meanSpreadPct256KiBto8MiB: spread('meanSeconds', 256 * 1024, 8 << 20),
    makespanSpreadPctAll: spread('makespanSeconds', 0, Infinity)
  }
  writeFileSync(join(values.out, 'chunk-sweep-summary.json'), JSON.stringify(summary, null, 2) + '\n')
  process.stderr.write(`chunk sweep: ${JSON.stringify(summary)}\n`)
}

/** Simulator cost against hosts at a fixed chunk count (rack topology, 2 GB in 4 MiB chunks). */
async function scaleSweep (): Promise<void> {
  const hosts = [100, 250, 500, 1000]
  const rows: Row[] = []
  for (const n of hosts) rows.push({ ...await point(['--scenario=hosts-1000', `--hosts=${n}`, '--image-size=2GB']), image: '2GB' })
  writeFileSync(join(values.out, 'scale.csv'), csv(rows))
  const per = rows.map(r => `${r.hosts} hosts: ${(Number(r.cpuSeconds) / Number(r.deliveries) * 1e6).toFixed(1)} us cpu per chunk delivery`)
  process.stderr.write(per.join('\n') + '\n')
}

mkdirSync(values.out, { recursive: true })
const only = values.only
if (only == null || only === 'n') await nSweep()
if (only == null || only === 'chunk') await chunkSweep()
if (only === 'scale') await scaleSweep()

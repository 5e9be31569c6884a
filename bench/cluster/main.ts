/**
 * imgp2p cluster benchmark (run as root).
 *
 *   node dist/bench/cluster/main.js [options]          one run
 *   node dist/bench/cluster/main.js --sweep [options]  the full sweep, then charts
 *   node dist/bench/cluster/main.js --charts           charts from the results file
 *   node dist/bench/cluster/main.js --cleanup [--force] remove leftovers of crashed runs
 *
 * See bench/cluster/BENCHMARKS-cluster.md.
 */
import { readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { readResults, writeCharts } from './charts.js'
import { markdownTable } from './report.js'
import { repoRoot } from './context.js'
import type { ImageKind } from './image.js'
import { type RunOptions, cleanupLeftovers, defaults, runOnce } from './run.js'
import { sweepPlan } from './sweep.js'

const { values: v } = parseArgs({
  options: {
    hosts: { type: 'string', short: 'n' },
    switches: { type: 'string' },
    'image-mib': { type: 'string' },
    'image-kind': { type: 'string' },
    'image-file': { type: 'string' },
    'chunk-kib': { type: 'string' },
    'host-mbit': { type: 'string' },
    'front-mbit': { type: 'string' },
    'isl-mbit': { type: 'string' },
    'queue-ms': { type: 'string' },
    'tcp-cc': { type: 'string' },
    sysctl: { type: 'string', multiple: true },
    'notsent-lowat': { type: 'string' },
    'warmup-mib': { type: 'string' },
    'no-http': { type: 'boolean' },
    'no-imgp2p': { type: 'boolean' },
    'require-imgp2p': { type: 'boolean' },
    'shape-check-mib': { type: 'string' },
    timeout: { type: 'string' },
    'global-timeout': { type: 'string' },
    results: { type: 'string' },
    label: { type: 'string' },
    'add-arg': { type: 'string', multiple: true },
    'daemon-arg': { type: 'string', multiple: true },
    'fe-arg': { type: 'string', multiple: true },
    'open-swarm': { type: 'boolean' },
    profile: { type: 'string' },
    sweep: { type: 'boolean' },
    quick: { type: 'boolean' },
    only: { type: 'string' },
    charts: { type: 'boolean' },
    report: { type: 'boolean' },
    cleanup: { type: 'boolean' },
    force: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' }
  }
})

const here = join(repoRoot(), 'bench', 'cluster')
const resultsFile = v.results ?? join(here, 'results.jsonl')
const log = (l: string): void => { process.stdout.write(l + '\n') }
const num = (s: string | undefined, d: number): number => s === undefined ? d : Number(s)

if (v.help === true) {
  log(`usage: main.js [--sweep [--quick] [--only large,small,chunk,switches,vm] | --charts | --report | --cleanup [--force]]
  -n/--hosts N (3)  --switches 1|2  --image-mib MiB (64)  --image-kind random|vm|text  --chunk-kib KiB
  --image-file PATH (deploy this file instead of a generated image, e.g. a real disk image; its size replaces --image-mib; with --sweep: this file at every N)
  --host-mbit B (50)  --front-mbit F (10 x B)  --isl-mbit R (0 = unshaped)
  --queue-ms Q (${defaults.queueMs}: each shaped port's FIFO, in ms at its rate, at least 64 KiB)
  --tcp-cc NAME (the kernel's default: TCP congestion control in the front-end's and hosts' namespaces; one of net.ipv4.tcp_allowed_congestion_control, e.g. reno)
  --sysctl net.KEY=VALUE (repeatable: set in the front-end's and hosts' namespaces and recorded, e.g. net.ipv4.tcp_slow_start_after_idle=0)
  --notsent-lowat BYTES (0 = the kernel's default: net.ipv4.tcp_notsent_lowat in those namespaces, the unsent bytes a socket may hold)
  --warmup-mib M (0: deploy another M MiB image first, so the measured deployment meets daemons that have already run one)
  --no-http  --no-imgp2p  --require-imgp2p  --shape-check-mib MiB (4; 0 = skip)
  --timeout S (per run, 300)  --global-timeout S  --results FILE (bench/cluster/results.jsonl)  --label L
  --add-arg X / --daemon-arg X (repeatable; passed to imgp2p add / daemon; write --daemon-arg=--verbose to keep each daemon's log in bench/cluster/logs/)
  --fe-arg X (repeatable; passed to the front-end's daemon only, after --daemon-arg, e.g. --fe-arg=--upload-mbit=250)
  --open-swarm (daemons without a swarm key; by default each run's daemons share a new one, as a cloud's should)
  --profile fe,h1  run those daemons under --cpu-prof (bench/cluster/profiles/; summarise with profile.js)`)
  process.exit(0)
}

if (process.getuid?.() !== 0) {
  log('the cluster benchmark needs root (network namespaces, tc)')
  process.exit(2)
}

if (v.cleanup === true) {
  const n = cleanupLeftovers(v.force === true, log)
  log(`cleanup: ${n} namespaces removed`)
  process.exit(0)
}

if (v.report === true) {
  log(markdownTable(readResults(resultsFile).filter(r => v.label === undefined || r.label === v.label)))
  process.exit(0)
}

if (v.charts === true) {
  for (const f of writeCharts(resultsFile, join(here, 'charts'), v.label)) log(`wrote ${f}`)
  process.exit(0)
}

const hostMbit = num(v['host-mbit'], defaults.hostMbit)
const base: Partial<RunOptions> = {
  hosts: num(v.hosts, defaults.hosts),
  switches: num(v.switches, 1) === 2 ? 2 : 1,
  imageMiB: num(v['image-mib'], defaults.imageMiB),
  imageKind: imageKindArg(v['image-kind']),
  ...imageFileArg(v['image-file']),
  chunkBytes: v['chunk-kib'] === undefined ? undefined : Number(v['chunk-kib']) * 1024,
  hostMbit,
  frontMbit: num(v['front-mbit'], hostMbit * 10),
  islMbit: num(v['isl-mbit'], 0),
  queueMs: num(v['queue-ms'], defaults.queueMs),
  tcpCc: v['tcp-cc'] ?? defaults.tcpCc,
  notsentLowat: num(v['notsent-lowat'], defaults.notsentLowat),
  sysctls: sysctlArgs(v.sysctl ?? []),
  warmupMiB: num(v['warmup-mib'], defaults.warmupMiB),
  http: v['no-http'] !== true,
  imgp2p: v['no-imgp2p'] === true ? false : (v['require-imgp2p'] === true ? true : 'auto'),
  shapeCheckMiB: num(v['shape-check-mib'], defaults.shapeCheckMiB),
  timeoutS: num(v.timeout, defaults.timeoutS),
  resultsFile,
  addArgs: v['add-arg'] ?? [],
  daemonArgs: v['daemon-arg'] ?? [],
  feArgs: v['fe-arg'] ?? [],
  openSwarm: v['open-swarm'] === true,
  profile: v.profile?.split(',') ?? [],
  log
}

function imageKindArg (kind: string | undefined): ImageKind {
  if (kind === undefined) return 'random'
  if (kind === 'random' || kind === 'vm' || kind === 'text') return kind
  log(`--image-kind ${kind}: want random, vm or text`)
  process.exit(2)
}

function imageFileArg (path: string | undefined): Partial<RunOptions> {
  if (path === undefined) return {}
  let size: number
  try {
    const st = statSync(path)
    if (!st.isFile()) throw new Error('not a regular file')
    size = st.size
  } catch (err) {
    log(`--image-file ${path}: ${(err as Error).message}`)
    process.exit(2)
  }
  if (size === 0) { log(`--image-file ${path}: empty`); process.exit(2) }
  return { imageFile: resolve(path), imageMiB: size / 2 ** 20 }
}

function sysctlArgs (items: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const it of items) {
    const m = /^(net\.[\w.]+)=(\S+)$/.exec(it)
    if (m == null) { log(`--sysctl ${it}: want net.KEY=VALUE`); process.exit(2) }
    out[m[1]] = m[2]
  }
  return out
}

if (base.tcpCc !== undefined && base.tcpCc !== '') {
  // A namespace may only pick what the root namespace allows; say so before building anything.
  const allowed = readFileSync('/proc/sys/net/ipv4/tcp_allowed_congestion_control', 'utf8').trim().split(/\s+/)
  if (!allowed.includes(base.tcpCc)) {
    log(`--tcp-cc ${base.tcpCc}: namespaces may use only ${allowed.join(', ')} (net.ipv4.tcp_allowed_congestion_control)`)
    process.exit(2)
  }
}

// Global bound: whatever happens, this process ends (the run's own handlers clean up on SIGTERM/exit).
const globalS = num(v['global-timeout'], v.sweep === true ? 4 * 3600 : (base.timeoutS ?? 300) + 60)
setTimeout(() => {
  log(`global timeout of ${globalS} s reached`)
  process.kill(process.pid, 'SIGTERM')
}, globalS * 1000).unref()

let failures = 0
if (v.sweep === true) {
  const label = v.label ?? `sweep-${new Date().toISOString().replace(/[:.]/g, '-')}`
  const plan = sweepPlan(v.quick === true, v.only?.split(','), v['image-file'])
  log(`sweep ${label}: ${plan.length} runs -> ${resultsFile}`)
  for (const [i, step] of plan.entries()) {
    log(`\n=== run ${i + 1}/${plan.length}: ${step.name} ===`)
    try {
      const r = await runOnce({ ...base, ...step.options, label })
      if (!r.http.ok || (r.imgp2p.ok !== true && base.imgp2p !== false)) failures++
    } catch (e) {
      failures++
      log(`run failed: ${(e as Error).message}`)
    }
  }
  for (const f of writeCharts(resultsFile, join(here, 'charts'), label)) log(`wrote ${f}`)
} else {
  try {
    const r = await runOnce({ ...base, label: v.label ?? 'single' })
    if (!r.http.ok && base.http === true) failures++
    if (!r.imgp2p.ok && base.imgp2p === true) failures++
  } catch (e) {
    failures++
    log(`run failed: ${(e as Error).message}`)
  }
}
process.exit(failures > 0 ? 1 : 0)

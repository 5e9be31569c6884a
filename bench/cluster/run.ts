/**
 * One benchmark run: build the namespaces, check the shaping, run the HTTP
 * baseline and imgp2p, tear everything down (also on error, timeout, SIGINT
 * or SIGTERM), and return the record.
 */
import { appendFileSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs'
import { cpus, release, tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { type RunContext, repoRoot } from './context.js'
import { httpBaseline, shapingCheck, startServer } from './http-phase.js'
import { type ImageKind, generateImage, sha256File } from './image.js'
import { imgp2pRun, imgp2pUnavailable } from './imgp2p-phase.js'
import { type RunRecord, summary, tMin } from './metrics.js'
import { ProcessRegistry, signalGroup } from './procs.js'
import { alive, busyFraction, cpuCounters, sleep, sleepSync } from './sys.js'
import { type Topology, createTopology, deleteNamespace, emptyTopology, listNamespaces, namespacePids, tcpCongestionControl, tcpNotsentLowat } from './topology.js'

export const PREFIX_ROOT = 'i2p-'

export interface RunOptions {
  hosts: number
  switches: 1 | 2
  imageMiB: number
  imageKind: ImageKind
  /** Deploy this file (a real disk image, say) instead of a generated one of imageKind. */
  imageFile?: string
  chunkBytes?: number
  hostMbit: number
  frontMbit: number
  islMbit: number
  /** FIFO behind every shaped port, in milliseconds at the port's rate. */
  queueMs: number
  /** TCP congestion control for the front-end and hosts ('' = the kernel's default). */
  tcpCc: string
  /** net.ipv4.tcp_notsent_lowat for the front-end and hosts (0 = the kernel's default). */
  notsentLowat: number
  /** Other sysctls for the front-end and hosts (recorded in each run). */
  sysctls: Record<string, string>
  /** MiB of another image deployed before the measured one (0 = cold daemons). */
  warmupMiB: number
  http: boolean
  /** 'auto': run imgp2p if its CLI answers, else record why not. */
  imgp2p: boolean | 'auto'
  shapeCheckMiB: number
  /** Whole-run budget, seconds. */
  timeoutS: number
  label: string
  resultsFile?: string
  addArgs: string[]
  daemonArgs: string[]
  /** More `imgp2p daemon` arguments for the front-end only. */
  feArgs: string[]
  /** Run the daemons without a swarm key (by default each run's daemons share a new one, as a cloud's should). */
  openSwarm: boolean
  /** Write timeline charts and data to bench/cluster/timelines/. */
  timelines: boolean
  /** Daemons to run under --cpu-prof ('fe', 'h1', ...). */
  profile: string[]
  log: (line: string) => void
}

export const defaults: RunOptions = {
  hosts: 3,
  switches: 1,
  imageMiB: 64,
  imageKind: 'random',
  hostMbit: 50,
  frontMbit: 500,
  islMbit: 0,
  queueMs: 100,
  tcpCc: '',
  notsentLowat: 0,
  sysctls: {},
  warmupMiB: 0,
  http: true,
  imgp2p: 'auto',
  shapeCheckMiB: 4,
  timeoutS: 300,
  label: 'single',
  addArgs: [],
  daemonArgs: [],
  feArgs: [],
  openSwarm: false,
  profile: [],
  timelines: true,
  log: (l) => { process.stdout.write(l + '\n') }
}

let runCounter = 0

/** Everything a run created, removed synchronously (processes, namespaces, scratch files). */
function teardown (topo: Topology, procs: ProcessRegistry, dir: string): void {
  procs.killAllSync()
  for (const ns of topo.namespaces) {
    for (const pid of namespacePids(ns)) signalGroup(pid, 'SIGKILL')
  }
  const until = Date.now() + 2000
  while (Date.now() < until && topo.namespaces.some(ns => namespacePids(ns).some(alive))) sleepSync(50)
  for (const ns of [...topo.namespaces].reverse()) deleteNamespace(ns)
  rmSync(dir, { recursive: true, force: true })
}

export async function runOnce (partial: Partial<RunOptions>): Promise<RunRecord> {
  const o: RunOptions = { ...defaults, ...partial }
  if (o.hosts < 1 || o.hosts > 64) throw new Error('hosts must be 1..64')
  const started = performance.now()
  const prefix = `${PREFIX_ROOT}${process.pid}-${runCounter++}-`
  const dir = join(tmpdir(), prefix.slice(0, -1))
  const procs = new ProcessRegistry()
  const topo = emptyTopology({ prefix, hosts: o.hosts, switches: o.switches, hostMbit: o.hostMbit, frontMbit: o.frontMbit, islMbit: o.islMbit, queueMs: o.queueMs, tcpCc: o.tcpCc, notsentLowat: o.notsentLowat, sysctls: o.sysctls })

  let tornDown = false
  const cleanup = (): void => { if (!tornDown) { tornDown = true; teardown(topo, procs, dir) } }
  const onSignal = (sig: NodeJS.Signals): void => {
    o.log(`${sig}: cleaning up ${prefix}*`)
    cleanup()
    process.exit(sig === 'SIGINT' ? 130 : 143)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('exit', cleanup)
  let timer: NodeJS.Timeout | undefined
  try {
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`run exceeded its ${o.timeoutS} s budget`)) }, o.timeoutS * 1000)
    })
    return await Promise.race([body(), timeout])
  } finally {
    clearTimeout(timer)
    cleanup()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    process.off('exit', cleanup)
  }

  async function body (): Promise<RunRecord> {
    // How busy the machine is with other work before we start (it is shared).
    const idle0 = cpuCounters()
    await sleep(1000)
    const busyBefore = busyFraction(idle0, cpuCounters())
    if (busyBefore > 0.2) o.log(`note: the machine is ${Math.round(busyBefore * 100)}% busy before this run; figures may be CPU-perturbed`)
    const kindName = o.imageFile !== undefined ? `file:${basename(o.imageFile)}` : o.imageKind
    const imageBytes = o.imageFile !== undefined ? statSync(o.imageFile).size : Math.round(o.imageMiB * 1024 * 1024)
    mkdirSync(join(dir, 'www'), { recursive: true })
    for (const n of ['fe', ...Array.from({ length: o.hosts }, (_, i) => `h${i + 1}`)]) mkdirSync(join(dir, n), { recursive: true })
    const imagePath = join(dir, 'www', 'image.img')
    // A given file is linked, not copied: its holes stay holes, and the web server and `imgp2p add` read it in place.
    if (o.imageFile !== undefined) symlinkSync(o.imageFile, imagePath)
    else generateImage(imagePath, imageBytes, o.imageKind)
    const checkBytes = Math.round(Math.min(o.imageMiB, o.shapeCheckMiB) * 1024 * 1024)
    generateImage(join(dir, 'www', 'check.img'), checkBytes, 'random')

    const why = o.imgp2p === false ? 'disabled' : imgp2pUnavailable()
    if (why !== undefined && o.imgp2p === true) throw new Error(`imgp2p required but unavailable: ${why}`)
    createTopology(topo.opts, topo)
    const ctx: RunContext = {
      topo, procs, dir, imagePath, imageBytes,
      imageSha: await sha256File(imagePath),
      tMinS: tMin(imageBytes, o.hosts, o.hostMbit, o.frontMbit),
      deadline: started + o.timeoutS * 1000 - 5000,
      timelines: o.timelines,
      label: o.label,
      variant: `${o.chunkBytes !== undefined ? `-c${o.chunkBytes / 1024}k` : ''}${kindName !== 'random' ? `-${kindName}` : ''}`,
      log: o.log
    }
    const tcpCc = tcpCongestionControl(topo.fe.ns)
    const lowat = tcpNotsentLowat(topo.fe.ns)
    o.log(`topology ${prefix}*: ${o.switches} switch(es), front-end + ${o.hosts} hosts, B=${o.hostMbit} F=${o.frontMbit} Mbit/s, queues ${o.queueMs} ms, TCP ${tcpCc}, notsent_lowat ${lowat}; T_min ${ctx.tMinS.toFixed(2)} s`)

    const record: RunRecord = {
      time: new Date().toISOString(),
      label: o.label,
      hosts: o.hosts,
      switches: o.switches,
      imageKind: kindName,
      imageBytes,
      imageMiB: Math.round(imageBytes / 2 ** 20 * 100) / 100,
      chunkBytes: o.chunkBytes ?? null,
      hostMbit: o.hostMbit,
      frontMbit: o.frontMbit,
      islMbit: o.islMbit,
      queueMs: o.queueMs,
      tcpCc,
      tcpNotsentLowat: lowat,
      ...(Object.keys(o.sysctls).length > 0 ? { sysctls: o.sysctls } : {}),
      warmupMiB: o.warmupMiB,
      ...(o.daemonArgs.length > 0 ? { daemonArgs: o.daemonArgs } : {}),
      ...(o.feArgs.length > 0 ? { feArgs: o.feArgs } : {}),
      ...(o.openSwarm ? { openSwarm: true } : {}),
      tMinS: ctx.tMinS,
      http: { ok: false, error: 'not run' },
      imgp2p: { ok: false, error: 'not run' },
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', kernel: release(), node: process.version, busyBefore },
      wallS: 0
    }

    const server = await startServer(ctx, topo.fe, join(dir, 'www'))
    try {
      if (o.shapeCheckMiB > 0) {
        const s = await shapingCheck(ctx, 'check.img', checkBytes)
        record.shaping = s
        const pct = (t: number): string => `${(s.expectedS / t * 100).toFixed(0)}%`
        o.log(`shaping: one host alone, ${(checkBytes / 2 ** 20).toFixed(1)} MiB: download ${s.downS.toFixed(2)} s, upload ${s.upS.toFixed(2)} s; ` +
          `S/B = ${s.expectedS.toFixed(2)} s (goodput ${pct(s.downS)} / ${pct(s.upS)} of B)`)
        if (Math.abs(s.downS / s.expectedS - 1) > 0.25 || Math.abs(s.upS / s.expectedS - 1) > 0.25) o.log('shaping: WARNING: more than 25% off S/B')
      }
      record.http = o.http ? await httpBaseline(ctx, 'image.img') : { ok: false, error: 'disabled' }
    } finally { await procs.stop(server) }

    if (why === undefined) {
      try {
        record.imgp2p = await imgp2pRun(ctx, {
          chunkBytes: o.chunkBytes, addArgs: o.addArgs, daemonArgs: o.daemonArgs, feArgs: o.feArgs, openSwarm: o.openSwarm, warmupMiB: o.warmupMiB, profile: o.profile, profileDir: join(repoRoot(), 'bench', 'cluster', 'profiles')
        })
      } catch (e) {
        record.imgp2p = { ok: false, error: (e as Error).message.slice(0, 2000) }
      }
    } else record.imgp2p = { ok: false, error: why }

    record.wallS = (performance.now() - started) / 1000
    o.log(summary(record))
    if (o.resultsFile !== undefined) appendFileSync(o.resultsFile, JSON.stringify(record) + '\n')
    return record
  }
}

/** Removes namespaces and scratch directories of runs whose process is gone (or all, with force). */
export function cleanupLeftovers (force: boolean, log: (l: string) => void): number {
  const byPid = new Map<number, string[]>()
  for (const ns of listNamespaces(PREFIX_ROOT)) {
    const m = /^i2p-(\d+)-/.exec(ns)
    if (m === null) continue
    const pid = Number(m[1])
    byPid.set(pid, [...(byPid.get(pid) ?? []), ns])
  }
  let removed = 0
  for (const [pid, list] of byPid) {
    if (!force && pid !== process.pid && alive(pid)) { log(`skipping ${list.length} namespaces of live run ${pid} (use --force)`); continue }
    for (const ns of list) for (const p of namespacePids(ns)) signalGroup(p, 'SIGKILL')
    sleepSync(200)
    for (const ns of list.sort().reverse()) { deleteNamespace(ns); removed++ }
    log(`removed ${list.length} namespaces of run ${pid}`)
  }
  for (const name of readdirSync(tmpdir())) {
    const m = /^i2p-(\d+)-\d+$/.exec(name)
    if (m === null) continue
    const pid = Number(m[1])
    if (force || (pid !== process.pid && !alive(pid))) {
      rmSync(join(tmpdir(), name), { recursive: true, force: true })
      log(`removed ${join(tmpdir(), name)}`)
    }
  }
  return removed
}

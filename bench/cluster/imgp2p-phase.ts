/**
 * imgp2p on the cluster, through its real CLI: one daemon per namespace, the
 * front-end adds the image, every host pulls it at the same moment.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type RunContext, remainingMs, repoRoot } from './context.js'
import type { Imgp2pResult, Usage } from './metrics.js'
import type { Proc } from './procs.js'
import { cpuCounters, sh, sleep, treeUsage } from './sys.js'
import { type Node, diffCounters, readCounters } from './topology.js'
import { deploymentResult } from './phase-result.js'
import { DEFAULT_NEIGHBOURS } from '../../src/node/neighbours.js'
import type { PullResult } from '../../src/node/node-types.js'
import type { DuplicateCounts } from '../../src/policy/types.js'
import { totalDuplicates } from '../../src/policy/duplicate-ledger.js'
import { writeNewSwarmKey } from '../../src/node/swarm-key.js'
import { startSampler } from './sampler.js'
import { generateImage } from './image.js'

const P2P_PORT = 4001
/** Quiet time before, and length of, the idle CPU measurement. */
const IDLE_SETTLE_MS = 5000
const IDLE_MEASURE_MS = 5000

export function cliPath (): string {
  return join(repoRoot(), 'bin', 'imgp2p')
}

/**
 * The CLI's environment: the project's Node 24 first on PATH (as under `npm
 * run`), so the launcher runs the daemon itself instead of re-spawning it on
 * a newer Node; one process per daemon keeps CPU and RSS figures honest.
 */
export function cliEnv (): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${join(repoRoot(), 'node_modules', '.bin')}:${process.env.PATH ?? ''}` }
}

/** Why imgp2p cannot run here, or undefined when its CLI answers --help. */
export function imgp2pUnavailable (): string | undefined {
  const bin = cliPath()
  if (!existsSync(bin)) return `${bin} does not exist yet`
  try {
    sh(bin, ['--help'], { timeoutMs: 30_000, env: cliEnv() })
    return undefined
  } catch (e) {
    return `bin/imgp2p --help failed: ${(e as Error).message.split('\n').slice(0, 3).join(' ')}`
  }
}

export interface Imgp2pOptions {
  /** Node names ('fe', 'h1', ...) whose daemon runs with --cpu-prof, profiles written to profileDir. */
  profile: string[]
  profileDir: string
  chunkBytes?: number
  /** Extra arguments for `imgp2p add` and `imgp2p daemon`. */
  addArgs: string[]
  daemonArgs: string[]
  /** More arguments for the front-end's daemon only. */
  feArgs?: string[]
  /** No swarm key: by default the run's daemons share a new one (--swarm-key), as a cloud's should. */
  openSwarm?: boolean
  /**
   * MiB of a different random image deployed to every host before the
   * measured one (0 = none): daemons that have served a deployment, as on a
   * running cloud, instead of processes started seconds before.
   */
  warmupMiB: number
}

const dataDir = (ctx: RunContext, n: Node): string => join(ctx.dir, n.name, 'data')

function usageOf (fe: number, hosts: number[]): Usage {
  return { fe, mean: hosts.reduce((a, b) => a + b, 0) / Math.max(1, hosts.length), max: Math.max(0, ...hosts) }
}

/** Mean and max of per-host byte counts, in images (undefined when no host reported one). */
function perImage (bytes: Array<number | undefined>, imageBytes: number): { mean: number, max: number } | undefined {
  const v = bytes.filter((x): x is number => typeof x === 'number')
  if (v.length === 0) return undefined
  const { mean, max } = usageOf(0, v)
  return { mean: mean / imageBytes, max: max / imageBytes }
}

/** Chunks the pulls received twice: per pull, and summed over the pulls by cause (undefined when none reported). */
function duplicatesOf (counts: Array<DuplicateCounts | undefined>): Imgp2pResult['duplicateChunks'] {
  const v = counts.filter((x): x is DuplicateCounts => x !== undefined)
  if (v.length === 0) return undefined
  const byCause: Record<string, number> = {}
  for (const c of v) for (const [k, n] of Object.entries(c)) byCause[k] = (byCause[k] ?? 0) + n
  const { mean, max } = usageOf(0, v.map(totalDuplicates))
  return { mean, max, byCause }
}

/** Runs the CLI in a namespace and returns its stdout (throws on non-zero exit). */
async function cli (ctx: RunContext, n: Node, args: string[]): Promise<Proc> {
  const p = ctx.procs.spawnIn(n.ns, `${args[0]}@${n.name}`, cliPath(), args, cliEnv())
  const code = await p.exit
  if (code !== 0) throw new Error(`imgp2p ${args.join(' ')} in ${n.name} exited ${code}: ${p.stderr.slice(-2000)}`)
  return p
}

async function startDaemon (ctx: RunContext, n: Node, extra: string[], o: Imgp2pOptions): Promise<{ proc: Proc, addr: string }> {
  mkdirSync(dataDir(ctx, n), { recursive: true })
  const args = ['daemon', '--data-dir', dataDir(ctx, n), '--listen', `/ip4/${n.ip}/tcp/${P2P_PORT}`, '--zone', `sw${n.sw}`, ...extra]
  const env = cliEnv()
  if (o.profile.includes(n.name)) {
    mkdirSync(o.profileDir, { recursive: true })
    env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${o.profileDir} --cpu-prof-name=${n.name}-N${ctx.topo.hosts.length}-${Date.now()}.cpuprofile`.trim()
  }
  const proc = ctx.procs.spawnIn(n.ns, `daemon@${n.name}`, cliPath(), args, env)
  const line = await proc.waitForLine(/^listening \/ip4\//, Math.min(90_000, remainingMs(ctx)))
  return { proc, addr: line.slice('listening '.length).trim() }
}

/** With `--daemon-arg=--verbose`, each daemon's log goes to bench/cluster/logs/LABEL-NN-NODE.log, to read a run's timeline afterwards. */
function keepLogs (ctx: RunContext, daemons: Proc[]): void {
  const dir = join(repoRoot(), 'bench', 'cluster', 'logs')
  mkdirSync(dir, { recursive: true })
  for (const d of daemons) writeFileSync(join(dir, `${ctx.label}-N${ctx.topo.hosts.length}-${d.label.replace('daemon@', '')}.log`), d.stderr)
  ctx.log(`imgp2p: daemon logs in ${dir}`)
}

function peerCount (status: unknown): number {
  const peers = (status as { peers?: unknown }).peers
  if (Array.isArray(peers)) return peers.length
  return typeof peers === 'number' ? peers : 0
}

/** A whole deployment of another image, outputs deleted; then idle a moment. */
async function warmUp (ctx: RunContext, mib: number): Promise<void> {
  const { fe, hosts } = ctx.topo
  const path = join(ctx.dir, 'www', 'warmup.img')
  generateImage(path, mib * 2 ** 20, 'random')
  const t0 = performance.now()
  const cid = (await cli(ctx, fe, ['add', path, '--data-dir', dataDir(ctx, fe)])).stdout.trim().split('\n').pop()?.trim() ?? ''
  const outs = hosts.map(h => join(ctx.dir, h.name, 'warmup.img'))
  await Promise.all(hosts.map(async (h, i) => await cli(ctx, h, ['pull', cid, '--out', outs[i], '--data-dir', dataDir(ctx, h)])))
  for (const f of [path, ...outs]) rmSync(f, { force: true })
  ctx.log(`imgp2p: warm-up deployment of ${mib} MiB took ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  await sleep(2000)
}

export async function imgp2pRun (ctx: RunContext, o: Imgp2pOptions): Promise<Imgp2pResult> {
  const { fe, hosts } = ctx.topo
  const daemons: Proc[] = []
  try {
    // Daemons: the front-end (origin) first, then every host pointed at it.
    const t0 = performance.now()
    // Each daemon is told its link rate, as an operator would state it: a veth
    // reports no real speed, and the front-end decides full service from them.
    const { hostMbit, frontMbit } = ctx.topo.opts
    const keyFile = join(ctx.dir, 'swarm.key')
    if (o.openSwarm !== true) await writeNewSwarmKey(keyFile)
    const common = [...(o.openSwarm === true ? [] : ['--swarm-key', keyFile]), ...o.daemonArgs]
    const origin = await startDaemon(ctx, fe, ['--origin', '--link-mbit', String(frontMbit), ...common, ...(o.feArgs ?? [])], o)
    daemons.push(origin.proc)
    const hs = await Promise.all(hosts.map(async h =>
      await startDaemon(ctx, h, ['--peer', origin.addr, '--link-mbit', String(hostMbit), ...common], o)))
    daemons.push(...hs.map(h => h.proc))
    const daemonStartS = (performance.now() - t0) / 1000
    ctx.log(`imgp2p: ${hosts.length + 1} daemons listening after ${daemonStartS.toFixed(1)} s`)

    // Wait (bounded) until every host is connected to the front-end and its
    // neighbours, as long-running daemons are when a deployment starts; then
    // let start-up CPU settle.
    const n = o.daemonArgs.indexOf('--neighbours')
    const wantPeers = Math.max(1, Math.min(hosts.length, n >= 0 ? Number(o.daemonArgs[n + 1]) : DEFAULT_NEIGHBOURS))
    const waitUntil = performance.now() + 30_000
    let pending = hosts
    let statusBurstS: number | undefined
    while (pending.length > 0 && performance.now() < waitUntil) {
      const tb = performance.now()
      const counts = await Promise.all(pending.map(async h => {
        try { return peerCount(JSON.parse((await cli(ctx, h, ['status', '--data-dir', dataDir(ctx, h), '--json'])).stdout)) } catch { return 0 }
      }))
      // The first round starts N `imgp2p status` at once: what N simultaneous CLI starts cost.
      statusBurstS ??= (performance.now() - tb) / 1000
      pending = pending.filter((_, i) => counts[i] < wantPeers)
      if (pending.length > 0) await sleep(500)
    }
    if (pending.length > 0) ctx.log(`imgp2p: warning: fewer than ${wantPeers} peers at ${pending.map(h => h.name).join(',')} after 30 s`)
    // Idle cost: daemon CPU over a quiet period (connected, nothing to trade),
    // once the connections' own start (identify, gossipsub's mesh, the first
    // GCs) is over: measured at once it read 3 % of a core per daemon where a
    // daemon idle for minutes uses 1 % (FINDINGS.md session 13).
    await sleep(IDLE_SETTLE_MS)
    const idle0 = daemons.map(d => treeUsage(d.pid).cpuSeconds)
    const idleT0 = performance.now()
    await sleep(IDLE_MEASURE_MS)
    const idleS = (performance.now() - idleT0) / 1000
    const idleCpu = daemons.map((d, i) => (treeUsage(d.pid).cpuSeconds - idle0[i]) / idleS)

    if (o.warmupMiB > 0) await warmUp(ctx, o.warmupMiB)

    const imageArg = ctx.imagePath
    const ta = performance.now()
    const add = await cli(ctx, fe, ['add', imageArg, '--data-dir', dataDir(ctx, fe),
      ...(o.chunkBytes !== undefined ? ['--chunk-size', String(o.chunkBytes)] : []), ...o.addArgs])
    const addS = (performance.now() - ta) / 1000
    const cid = add.stdout.trim().split('\n').pop()?.trim() ?? ''
    const chunks = Number(/in (\d+) chunks/.exec(add.stdout)?.[1] ?? NaN)
    if (cid === '') throw new Error('imgp2p add printed no CID')
    ctx.log(`imgp2p: added ${cid} in ${addS.toFixed(2)} s`)
    // A cloud registers an image before it deploys VMs from it: by then the
    // daemons have heard of it (gossip batches for 1 s) and fetched its
    // manifest. Until session 8 this was 0.5 s, before any announcement.
    await sleep(3000)

    // The deployment: every host pulls at the same moment.
    const outs = hosts.map(h => join(ctx.dir, h.name, 'out.img'))
    const beforeU = daemons.map(d => treeUsage(d.pid))
    const before = beforeU.map(u => u.cpuSeconds)
    const c0 = readCounters(ctx.topo)
    const cpu0 = cpuCounters()
    const timeoutS = Math.max(5, Math.floor(remainingMs(ctx) / 1000) - 15)
    const tp = performance.now()
    const sampler = startSampler(ctx.topo, tp)
    if (o.daemonArgs.includes('--verbose')) ctx.log(`imgp2p: pulls start at ${new Date().toISOString()}`)
    const pulls = hosts.map((h, i) => ctx.procs.spawnIn(h.ns, `pull@${h.name}`, cliPath(),
      ['pull', cid, '--out', outs[i], '--data-dir', dataDir(ctx, h), '--json', '--timeout', String(timeoutS)], cliEnv()))
    const codes = await Promise.all(pulls.map(async p => await p.exit))
    const t1 = performance.now()
    const cpu1 = cpuCounters()
    const c = diffCounters(c0, readCounters(ctx.topo))
    const timeline = await sampler.stop()
    const after = daemons.map(d => treeUsage(d.pid))
    // What the daemons counted themselves: chunk data only, without TCP's headers and retransmits.
    const statuses = await Promise.all([fe, ...hosts].map(async n => {
      try { return JSON.parse((await cli(ctx, n, ['status', '--data-dir', dataDir(ctx, n), '--json'])).stdout) as { bytesSent?: number, bytesReceived?: number, bytesReceivedCrossZone?: number } } catch { return {} }
    }))
    const feAppSent = statuses[0].bytesSent
    const crossZone = statuses.map(st => st.bytesReceivedCrossZone)
    const nodes = [fe, ...hosts]
    const into = (sw: number): number => nodes.reduce((a, n, i) => a + (n.sw === sw ? crossZone[i] ?? 0 : 0), 0) / ctx.imageBytes
    const islApp = ctx.topo.opts.switches === 2 && crossZone.every(x => typeof x === 'number')
      ? { total: into(0) + into(1), intoFrontEndSwitch: into(0), intoOther: into(1) }
      : undefined
    const pullJson = pulls.map(p => { try { return JSON.parse(p.stdout.trim().split('\n').pop() ?? '') as Partial<PullResult> } catch { return {} } })
    const news = pullJson.map(j => j.announcementsReceived).filter((x): x is number => typeof x === 'number')
    const methods = pullJson.map(j => j.method)
    const pullCpu = after.map((u, i) => u.cpuSeconds - before[i])
    const pullSys = after.map((u, i) => u.sysSeconds - beforeU[i].sysSeconds)

    return {
      ...await deploymentResult(ctx, { phase: 'imgp2p', procs: pulls, codes, outs, removeOutputs: false, t0: tp, t1, counters: c, timeline, cpu0, cpu1 }),
      cid,
      chunkCount: Number.isFinite(chunks) ? chunks : undefined,
      feAppBytesPerImage: feAppSent === undefined ? undefined : feAppSent / ctx.imageBytes,
      islAppBytesPerImage: islApp?.total,
      islAppIntoFrontEndSwitchPerImage: islApp?.intoFrontEndSwitch,
      islAppPerHost: islApp === undefined ? undefined : Object.fromEntries(hosts.map((h, i) => [h.name, (crossZone[i + 1] ?? 0) / ctx.imageBytes])),
      pullMethods: [...new Set(methods.map(m => m ?? '?'))].join(','),
      downloadedPerImage: perImage(pullJson.map(j => j.bytesDownloaded), ctx.imageBytes),
      payloadRxPerImage: perImage(statuses.slice(1).map(st => st.bytesReceived), ctx.imageBytes),
      announcementsPerPull: news.length === 0 ? undefined : usageOf(0, news),
      duplicateChunks: duplicatesOf(pullJson.map(j => j.duplicateChunks)),
      addS,
      daemonStartS,
      statusBurstS,
      idleCpuFraction: usageOf(idleCpu[0], idleCpu.slice(1)),
      pullCpuS: usageOf(pullCpu[0], pullCpu.slice(1)),
      pullSysCpuS: usageOf(pullSys[0], pullSys.slice(1)),
      totalCpuS: usageOf(after[0].cpuSeconds, after.slice(1).map(u => u.cpuSeconds)),
      maxRssMiB: usageOf(after[0].maxRssMiB, after.slice(1).map(u => u.maxRssMiB))
    }
  } finally {
    await Promise.all(daemons.map(async d => { await ctx.procs.stop(d) }))
    if (o.daemonArgs.includes('--verbose')) keepLogs(ctx, daemons)
    for (const h of hosts) rmSync(join(ctx.dir, h.name, 'out.img'), { force: true })
  }
}

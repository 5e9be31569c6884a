/**
 * The unicast baseline (every host fetches the image from the front-end's web
 * server at the same moment) and the shaping check (one host alone, both
 * directions, should take about S/B).
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { type RunContext, nodeBinary, remainingMs, repoRoot } from './context.js'
import type { PhaseResult } from './metrics.js'
import type { Proc } from './procs.js'
import { cpuCounters, sh } from './sys.js'
import { type Node, diffCounters, readCounters } from './topology.js'
import { deploymentResult } from './phase-result.js'
import { startSampler } from './sampler.js'

const PORT = 8080

let curlPresent: boolean | undefined
function haveCurl (): boolean {
  curlPresent ??= sh('sh', ['-c', 'command -v curl'], { allowFail: true }).trim() !== ''
  return curlPresent
}

/** A small HTTP client: curl if present, else a few lines of Node. */
function fetchCommand (url: string, out: string, timeoutS: number): [string, string[]] {
  if (haveCurl()) return ['curl', ['-sS', '-f', '--max-time', String(Math.ceil(timeoutS)), '-o', out, url]]
  const js = 'import {get} from "node:http";import {createWriteStream} from "node:fs";' +
    'get(process.argv[1],r=>{if(r.statusCode!==200)process.exit(1);r.pipe(createWriteStream(process.argv[2])).on("finish",()=>process.exit(0))}).on("error",()=>process.exit(1))'
  return [nodeBinary(), ['--input-type=module', '-e', js, url, out]]
}

/** Starts the web server (Node's http module) in a node's namespace, serving dir. */
export async function startServer (ctx: RunContext, node: Node, dir: string): Promise<Proc> {
  const script = join(repoRoot(), 'bench', 'cluster', 'http-server.ts')
  const p = ctx.procs.spawnIn(node.ns, `http-server@${node.name}`, nodeBinary(), [script, dir, node.ip, String(PORT)])
  await p.waitForLine(/^ready$/, 15_000)
  return p
}

async function fetchOnce (ctx: RunContext, from: Node, to: Node, file: string, out: string): Promise<number> {
  const [cmd, args] = fetchCommand(`http://${to.ip}:${PORT}/${file}`, out, remainingMs(ctx) / 1000)
  const p = ctx.procs.spawnIn(from.ns, `fetch@${from.name}`, cmd, args)
  const code = await p.exit
  if (code !== 0) throw new Error(`fetch ${from.name} <- ${to.name} failed (${code}): ${p.stderr}`)
  return ((p.endedAt ?? 0) - p.startedAt) / 1000
}

/**
 * One host alone: download from the front-end (limited by B at the host's
 * port) and upload to the front-end (limited by B at the host's eth0).
 * The front-end's server must be running.
 */
export async function shapingCheck (ctx: RunContext, checkFile: string, bytes: number): Promise<{ downS: number, upS: number, expectedS: number, bytes: number }> {
  const { fe, hosts } = ctx.topo
  const h1 = hosts[0]
  const dir = join(ctx.dir, 'www')
  const server = await startServer(ctx, h1, dir)
  try {
    const downS = await fetchOnce(ctx, h1, fe, checkFile, join(ctx.dir, 'h1', 'check.down'))
    const upS = await fetchOnce(ctx, fe, h1, checkFile, join(ctx.dir, 'fe', 'check.up'))
    return { downS, upS, expectedS: bytes * 8 / (ctx.topo.opts.hostMbit * 1e6), bytes }
  } finally {
    await ctx.procs.stop(server)
    rmSync(join(ctx.dir, 'h1', 'check.down'), { force: true })
    rmSync(join(ctx.dir, 'fe', 'check.up'), { force: true })
  }
}

/** Every host fetches imageFile from the front-end at the same moment. */
export async function httpBaseline (ctx: RunContext, imageFile: string): Promise<PhaseResult> {
  const { hosts } = ctx.topo
  const outs = hosts.map(h => join(ctx.dir, h.name, 'http.img'))
  const c0 = readCounters(ctx.topo)
  const cpu0 = cpuCounters()
  const t0 = performance.now()
  const sampler = startSampler(ctx.topo, t0)
  const procs = hosts.map((h, i) => {
    const [cmd, args] = fetchCommand(`http://${ctx.topo.fe.ip}:${PORT}/${imageFile}`, outs[i], remainingMs(ctx) / 1000)
    return ctx.procs.spawnIn(h.ns, `http@${h.name}`, cmd, args)
  })
  const codes = await Promise.all(procs.map(async p => await p.exit))
  const t1 = performance.now()
  const cpu1 = cpuCounters()
  const c = diffCounters(c0, readCounters(ctx.topo))
  const timeline = await sampler.stop()
  return await deploymentResult(ctx, { phase: 'http', procs, codes, outs, removeOutputs: true, t0, t1, counters: c, timeline, cpu0, cpu1 })
}

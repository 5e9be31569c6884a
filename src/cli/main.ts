/** The imgp2p command line: one binary for every host. */
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { defaultDataDir } from '../cache/data-dir.js'
import type { ImageInfo, VerifyResult } from '../cache/types.js'
import { Imgp2pError, UsageError } from '../errors.js'
import type { NodeStatus, PullResult } from '../node/node.js'
import { formatBytes, listFew, parseSize } from '../util/size.js'
import { imageCidText } from './cid-text.js'
import { callDaemon } from './control-client.js'
import { ProgressReporter } from './progress.js'

const USAGE = `usage: imgp2p <command> [options]

  daemon [--data-dir DIR] [--listen MULTIADDR]... [--peer MULTIADDR]... [--zone NAME] [--origin] [--mdns] [--neighbours N]
         [--link-mbit RATE] [--upload-mbit RATE] [--download-mbit RATE] [--no-compress | --compress-always]
         [--cache-max SIZE] [--swarm-key FILE] [--metrics HOST:PORT] [--verbose]
  keygen FILE                                                 write a new swarm key (mode 600) for --swarm-key
  add FILE [--data-dir DIR] [--chunk-size SIZE] [--json]      import an image; prints its CID last
  pull CID [--out PATH] [--data-dir DIR] [--timeout SECONDS] [--json]
  ls [--data-dir DIR] [--json]
  status [--data-dir DIR] [--json]
  rm CID [--data-dir DIR]
  verify [CID] [--data-dir DIR] [--json]                      read back and hash the cache (one image or all); exit 1 on damage
  demo [--hosts N] [--size SIZE]                              a swarm on loopback, end to end
  simulate [--scenario FILE|paper] [--hosts N] [--image-size SIZE] [--chunk-size SIZE] [--json]

The data dir defaults to $IMGP2P_DATA_DIR, else /var/lib/imgp2p.`

const common = {
  'data-dir': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false }
} as const

export async function run (argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  try {
    switch (cmd) {
      case 'daemon': return await daemonCmd(rest)
      case 'add': return await addCmd(rest)
      case 'pull': return await pullCmd(rest)
      case 'ls': return await lsCmd(rest)
      case 'status': return await statusCmd(rest)
      case 'rm': return await rmCmd(rest)
      case 'verify': return await verifyCmd(rest)
      case 'keygen': return await keygenCmd(rest)
      case 'demo': return await demoCmd(rest)
      case 'simulate': return await simulateCmd(rest)
      case undefined: case 'help': case '--help': case '-h':
        process.stdout.write(USAGE + '\n')
        return cmd === undefined ? 64 : 0
      default:
        throw new UsageError(`unknown command "${cmd}"; try imgp2p --help`)
    }
  } catch (err) {
    const e = err as Error
    const code = err instanceof Imgp2pError ? err.exitCode : 1
    const msg = (e.message ?? String(err)).split('\n')[0]
    process.stderr.write(`imgp2p: ${msg}\n`)
    return code
  }
}

type OptionSpec = Record<string, { type: 'string' | 'boolean', multiple?: boolean, short?: string, default?: string | boolean }>
interface Values {
  [flag: string]: string | boolean | string[] | undefined
}

/** `positionals`: how many arguments the command takes, or up to how many with `atMost`. */
function parse (args: string[], options: OptionSpec, positionals: number, atMost = positionals): { values: Values, positionals: string[] } {
  let parsed: { values: Values, positionals: string[] }
  try {
    parsed = parseArgs({ args, options: { ...common, ...options }, allowPositionals: true, strict: true }) as { values: Values, positionals: string[] }
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (parsed.values.help === true) { process.stdout.write(USAGE + '\n'); process.exit(0) }
  const n = parsed.positionals.length
  if (n < positionals || n > atMost) {
    const want = atMost === positionals ? `${positionals} argument${positionals === 1 ? '' : 's'}` : `${positionals} to ${atMost} arguments`
    throw new UsageError(`expected ${want}, got ${n}; try imgp2p --help`)
  }
  return parsed
}

function str (v: Values, k: string): string | undefined {
  const x = v[k]
  return typeof x === 'string' ? x : undefined
}

function strs (v: Values, k: string): string[] {
  const x = v[k]
  return Array.isArray(x) ? x : []
}

function dataDir (v: Values): string {
  return resolve(str(v, 'data-dir') ?? defaultDataDir())
}

async function daemonCmd (args: string[]): Promise<number> {
  const { values } = parse(args, {
    listen: { type: 'string', multiple: true },
    peer: { type: 'string', multiple: true },
    zone: { type: 'string' },
    origin: { type: 'boolean', default: false },
    mdns: { type: 'boolean', default: false },
    verbose: { type: 'boolean', short: 'v', default: false },
    'enable-perf': { type: 'boolean', default: false },
    'hash-workers': { type: 'string' },
    neighbours: { type: 'string' },
    'link-mbit': { type: 'string' },
    'cache-max': { type: 'string' },
    'upload-mbit': { type: 'string' },
    'download-mbit': { type: 'string' },
    'swarm-key': { type: 'string' },
    metrics: { type: 'string' },
    // On by default; --compress stays accepted for scripts written when it was opt-in.
    compress: { type: 'boolean', default: true },
    'no-compress': { type: 'boolean', default: false },
    // Take compressed chunks even while the CPU, not the link, is the limit.
    'compress-always': { type: 'boolean', default: false }
  }, 0)
  if (values['no-compress'] === true && values['compress-always'] === true) throw new UsageError('--no-compress and --compress-always contradict each other; give one')
  // Loaded here, not at the top: `pull` and friends only talk to the control
  // socket, and a cloud manager may start dozens of them at once.
  const { runDaemon } = await import('./daemon.js')
  return await runDaemon({
    dataDir: dataDir(values),
    listen: strs(values, 'listen'),
    peers: strs(values, 'peer'),
    zone: str(values, 'zone'),
    origin: values.origin === true,
    mdns: values.mdns === true,
    verbose: values.verbose === true,
    enablePerf: values['enable-perf'] === true,
    hashWorkers: countArg(values, 'hash-workers'),
    neighbours: countArg(values, 'neighbours'),
    linkBps: mbitArg(values, 'link-mbit', 'the link rate'),
    uploadBps: mbitArg(values, 'upload-mbit', 'the upload cap'),
    downloadBps: mbitArg(values, 'download-mbit', 'the download cap'),
    compressChunks: values['no-compress'] !== true,
    compressWhenCpuBound: values['compress-always'] === true,
    cacheMaxBytes: str(values, 'cache-max') != null ? sizeArg(str(values, 'cache-max') as string, '--cache-max') : undefined,
    swarmKeyFile: str(values, 'swarm-key') != null ? resolve(str(values, 'swarm-key') as string) : undefined,
    metrics: str(values, 'metrics')
  })
}

async function keygenCmd (args: string[]): Promise<number> {
  const { positionals } = parse(args, {}, 1)
  const { writeNewSwarmKey } = await import('../node/swarm-key.js')
  const key = await writeNewSwarmKey(resolve(positionals[0]))
  process.stdout.write(`wrote a new swarm key to ${resolve(positionals[0])} (mode 600), fingerprint ${key.fingerprint}\n` +
    'copy it to every host of the swarm and start each daemon with --swarm-key FILE\n')
  return 0
}

async function addCmd (args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { 'chunk-size': { type: 'string' } }, 1)
  const cs = str(values, 'chunk-size')
  const chunkSize = cs != null ? sizeArg(cs, '--chunk-size') : undefined
  const r = await callDaemon<{ cid: string, size: number, chunks: number, reused: boolean }>(dataDir(values), 'add', { file: resolve(positionals[0]), chunkSize })
  if (values.json === true) process.stdout.write(JSON.stringify(r) + '\n')
  else process.stdout.write(`${r.reused ? 'unchanged since added:' : 'added'} ${formatBytes(r.size)} in ${r.chunks} chunks\n${r.cid}\n`)
  return 0
}

async function pullCmd (args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { out: { type: 'string' }, timeout: { type: 'string' } }, 1)
  const cid = await imageCidText(positionals[0])
  const timeout = str(values, 'timeout')
  const timeoutMs = timeout != null ? Number(timeout) * 1000 : undefined
  if (timeoutMs != null && !(timeoutMs > 0)) throw new UsageError(`--timeout wants a positive number of seconds, got "${timeout}"`)
  const progress = ProgressReporter.for(values.json === true)
  const abort = new AbortController()
  const onSig = (): void => { abort.abort(new Imgp2pError('interrupted; verified chunks are kept and the next pull resumes')) }
  process.once('SIGINT', onSig)
  const started = Date.now()
  try {
    const r = await callDaemon<PullResult>(dataDir(values), 'pull', { cid, out: str(values, 'out') != null ? resolve(str(values, 'out') as string) : undefined, timeoutMs, progressMs: progress.intervalMs }, {
      onProgress: (p) => { progress.update(p) },
      signal: abort.signal
    })
    progress.finish()
    const secs = (Date.now() - started) / 1000
    if (values.json === true) process.stdout.write(JSON.stringify({ ...r, seconds: secs }) + '\n')
    else process.stdout.write(`${r.path}\n`)
    const wire = r.bytesOnWire !== undefined && r.bytesDownloaded > 0 ? `: ${formatBytes(r.bytesDownloaded)} of chunks, ${formatBytes(r.bytesOnWire)} on the wire` : ''
    if (values.json !== true) process.stderr.write(`pulled ${cid} (${r.method}) in ${secs.toFixed(2)} s${wire}\n`)
    return 0
  } finally {
    progress.finish()
    process.off('SIGINT', onSig)
  }
}

async function lsCmd (args: string[]): Promise<number> {
  const { values } = parse(args, {}, 0)
  const list = await callDaemon<ImageInfo[]>(dataDir(values), 'ls')
  if (values.json === true) { process.stdout.write(JSON.stringify(list) + '\n'); return 0 }
  for (const i of list) {
    const state = i.complete ? 'complete' : `partial ${i.haveCount}/${i.chunkCount}`
    process.stdout.write(`${i.cid}  ${formatBytes(i.size).padStart(10)}  ${state}\n`)
  }
  return 0
}

async function statusCmd (args: string[]): Promise<number> {
  const { values } = parse(args, {}, 0)
  const s = await callDaemon<NodeStatus>(dataDir(values), 'status')
  if (values.json === true) { process.stdout.write(JSON.stringify(s) + '\n'); return 0 }
  process.stdout.write(`peer id  ${s.peerId}${s.zone != null ? `  zone ${s.zone}` : ''}\n`)
  for (const a of s.addrs) process.stdout.write(`listen   ${a}\n`)
  process.stdout.write(`peers    ${s.peers.length}\nsent     ${formatBytes(s.bytesSent)}\nreceived ${formatBytes(s.bytesReceived)}` +
    (s.bytesReceivedCrossZone > 0 ? ` (${formatBytes(s.bytesReceivedCrossZone)} from other zones)` : '') + '\n')
  if (s.cpu != null) process.stdout.write(`compress ${compressLine(s.cpu)}\n`)
  if (s.uploadCapBps != null) process.stdout.write(`upload   capped at ${s.uploadCapBps / 1e6} Mbit/s of chunk data (--upload-mbit)\n`)
  if (s.downloadCapBps != null) process.stdout.write(`download capped at ${s.downloadCapBps / 1e6} Mbit/s of chunk data (--download-mbit)\n`)
  process.stdout.write(`swarm    ${swarmLine(s.swarm)}\n`)
  const p = s.pulls
  process.stdout.write(`pulls    ${p.ok} done${p.ok > 0 ? ` in ${p.seconds.toFixed(1)} s, ${formatBytes(p.bytesFetched)} fetched from peers` : ''}, ${p.failed} failed\n`)
  if (s.verified.chunks > 0) process.stdout.write(`verify   ${s.verified.chunks} chunks read back, ${s.verified.damaged} found damaged (imgp2p verify)\n`)
  if (s.cache != null) process.stdout.write(`cache    ${formatBytes(s.cache.bytes)} of ${formatBytes(s.cache.maxBytes)} (--cache-max; least recently used images go first)\n`)
  for (const i of s.images) {
    const state = i.complete ? 'complete' : `${i.downloading ? 'pulling' : 'partial'} ${i.haveCount}/${i.chunkCount}`
    process.stdout.write(`image    ${i.cid} ${state}, ${i.links} peers, up ${formatBytes(i.uploadRate)}/s, down ${formatBytes(i.downloadRate)}/s\n`)
  }
  return 0
}

function swarmLine (swarm: NodeStatus['swarm']): string {
  if (swarm == null) return 'open: any host that reaches this daemon may join (--swarm-key FILE closes it)'
  const last = swarm.last != null ? `, the last ${swarm.last.peer} at ${swarm.last.addr} at ${swarm.last.at}: ${swarm.last.reason}` : ''
  return `closed to hosts holding key ${swarm.fingerprint}; refused ${swarm.refused} connection${swarm.refused === 1 ? '' : 's'}${last}`
}

/** What the compression gate decided, and on what figures (policy/compression-gate.ts). */
function compressLine (cpu: NonNullable<NodeStatus['cpu']>): string {
  const figures = cpu.share != null && cpu.demand != null
    ? `: the network thread got ${cpu.share} of a core when it wanted one, ${cpu.demand} of the time`
    : ''
  if (cpu.always === true) return 'compressed chunks taken (--compress-always: the CPU is not watched)'
  return (cpu.compressedChunks ? 'compressed chunks taken' : 'compressed chunks refused, the CPU is the limit') + figures
}

async function rmCmd (args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {}, 1)
  const cid = await imageCidText(positionals[0])
  const r = await callDaemon<{ removed: boolean }>(dataDir(values), 'rm', { cid })
  if (!r.removed) throw new Imgp2pError(`image ${cid} is not in the cache`)
  process.stdout.write(`removed ${cid}\n`)
  return 0
}

async function verifyCmd (args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {}, 0, 1)
  const cid = positionals[0] != null ? await imageCidText(positionals[0]) : undefined
  // On a terminal, a line redrawn as the daemon reads: a large cache takes minutes.
  const tty = values.json !== true && process.stderr.isTTY
  const results = await callDaemon<VerifyResult[]>(dataDir(values), 'verify', { cid }, {
    onProgress: tty ? (p) => { process.stderr.write(`\rverifying ${String(p.cid)}: ${String(p.checked)}/${String(p.total)} chunks\x1b[K`) } : undefined
  })
  if (tty) process.stderr.write('\r\x1b[K')
  if (values.json === true) process.stdout.write(JSON.stringify(results) + '\n')
  else for (const r of results) process.stdout.write(`${r.cid}  ${verifyLine(r)}\n`)
  const damaged = results.filter(r => r.bad.length > 0)
  if (damaged.length === 0) return 0
  const chunks = damaged.reduce((n, r) => n + r.bad.length, 0)
  const which = damaged.length === 1 ? damaged[0].cid : `${damaged.length} images`
  process.stderr.write(`imgp2p: ${chunks} chunk${chunks === 1 ? '' : 's'} of ${which} damaged on disk, no longer served; \`imgp2p pull CID\` fetches just those again\n`)
  return 1
}

function verifyLine (r: VerifyResult): string {
  if (r.state === 'busy') return 'skipped: a pull has it open'
  const what = r.state === 'complete' ? 'complete' : 'partial'
  if (r.bad.length === 0) return `${what}, ${r.checked} chunks checked, all sound`
  return `${what}, ${r.bad.length} of ${r.checked} chunks damaged (${listFew(r.bad)}); now partial, lacking them`
}

async function demoCmd (args: string[]): Promise<number> {
  const { values } = parse(args, { hosts: { type: 'string' }, size: { type: 'string' } }, 0)
  const hosts = str(values, 'hosts') != null ? Number(str(values, 'hosts')) : 5
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > 32) throw new UsageError('--hosts wants an integer from 1 to 32')
  const { runDemo } = await import('./demo.js')
  return await runDemo({ hosts, size: str(values, 'size') != null ? sizeArg(str(values, 'size') as string, '--size') : 128 * 1024 * 1024 })
}

async function simulateCmd (args: string[]): Promise<number> {
  // Resolved at run time: the simulator is an optional part of the build.
  const spec = './simulate.js'
  const mod = await import(spec) as { runSimulateCommand: (argv: string[]) => Promise<number> }
  return await mod.runSimulateCommand(args)
}

/** An optional non-negative integer flag. */
function countArg (v: Values, k: string): number | undefined {
  const text = str(v, k)
  if (text == null) return undefined
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${k} wants a whole number >= 0, got "${text}"`)
  return n
}

/** A rate flag in Mbit/s (decimal, > 0): --link-mbit, --upload-mbit, --download-mbit. */
function mbitArg (v: Values, flag: string, what: string): number | undefined {
  const text = str(v, flag)
  if (text == null) return undefined
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} wants ${what} in Mbit/s (a number > 0), got "${text}"`)
  return n * 1e6
}

function sizeArg (text: string, flag: string): number {
  try { return parseSize(text) } catch (err) { throw new UsageError(`${flag}: ${(err as Error).message}`) }
}

/** `imgp2p daemon`: run the node and its control socket until signalled. */
import { mkdir } from 'node:fs/promises'
import { setFlagsFromString } from 'node:v8'
import { Imgp2pNode } from '../node/node.js'
import { controlHandlers, startControlServer } from '../node/control-server.js'
import { type MetricsServer, parseListen, renderMetrics, startMetricsServer } from '../node/metrics.js'
import { loadSwarmKey } from '../node/swarm-key.js'

export interface DaemonArgs {
  dataDir: string
  listen: string[]
  peers: string[]
  zone?: string
  origin: boolean
  mdns: boolean
  verbose: boolean
  enablePerf?: boolean
  hashWorkers?: number
  neighbours?: number
  linkBps?: number
  compressChunks?: boolean
  compressWhenCpuBound?: boolean
  cacheMaxBytes?: number
  uploadBps?: number
  downloadBps?: number
  /** --swarm-key FILE: a closed swarm. */
  swarmKeyFile?: string
  /** --metrics HOST:PORT: Prometheus text at /metrics. */
  metrics?: string
}

/**
 * Every received or sent byte passes through short-lived Buffers outside the
 * JS heap (socket reads, TLS records, file reads). By default V8 runs a full
 * mark-compact every few tens of MB of such memory: 86 per GiB pulled on each
 * side, 1.3-1.8 s of CPU. Counting it in the global heap limit instead
 * halves the collections; bench:pull went from 138 to 220 MB/s and from 12.3
 * to 6.9 core-s/GB (raw stream 424 -> 562 MB/s), see BENCHMARKS.md.
 *
 * The daemon's live heap is small (~30 MB), so the limit V8 derives from it
 * after each collection was still reached every 1-2 s of transfer: ~10 full
 * collections per 64 MiB pull, and concurrent marking was 12 % of all CPU in
 * the 16-host cluster. Letting the heap grow to 4x its live size before the
 * next one leaves one collection per pull, at no measurable cost in peak RSS
 * (bench:pull 4.7-5.5 -> 3.9-4.7 core-s/GB; cluster N = 16: 1.92 -> 1.77 s
 * of CPU per host; BENCHMARKS.md section 3).
 */
function tuneGcForStreaming (): void {
  setFlagsFromString('--external-memory-accounted-in-global-limit')
  setFlagsFromString('--heap-growing-percent=300')
}

export async function runDaemon (args: DaemonArgs): Promise<number> {
  // A bad key file or address must fail before anything listens.
  if (args.metrics !== undefined) parseListen(args.metrics)
  const swarmKey = args.swarmKeyFile !== undefined ? await loadSwarmKey(args.swarmKeyFile) : undefined
  tuneGcForStreaming()
  await mkdir(args.dataDir, { recursive: true, mode: 0o700 })
  const notice = (msg: string): void => { process.stderr.write(`${new Date().toISOString()} ${msg}\n`) }
  const log = args.verbose ? notice : undefined
  const node = await Imgp2pNode.create({
    dataDir: args.dataDir,
    listen: args.listen.length > 0 ? args.listen : undefined,
    peers: args.peers,
    zone: args.zone,
    origin: args.origin,
    mdns: args.mdns,
    enablePerf: args.enablePerf,
    hashWorkers: args.hashWorkers,
    neighbours: args.neighbours,
    linkBps: args.linkBps,
    compressChunks: args.compressChunks,
    compressWhenCpuBound: args.compressWhenCpuBound,
    cacheMaxBytes: args.cacheMaxBytes,
    uploadBps: args.uploadBps,
    downloadBps: args.downloadBps,
    swarmKey,
    log,
    notice
  })
  let server
  let metrics: MetricsServer | undefined
  try {
    server = await startControlServer(args.dataDir, controlHandlers(node))
    if (args.metrics !== undefined) metrics = await startMetricsServer(args.metrics, async () => renderMetrics(await node.status()))
  } catch (err) {
    server?.close()
    await node.stop()
    throw err
  }
  for (const a of node.addrs()) process.stdout.write(`listening ${a}\n`)
  if (metrics !== undefined) process.stdout.write(`metrics ${metrics.url}\n`)
  process.stdout.write(swarmKey !== undefined
    ? `swarm closed to hosts holding key ${swarmKey.fingerprint}\n`
    : 'swarm open: any host that reaches these addresses may join and pull every image (--swarm-key FILE closes it)\n')
  process.stdout.write(`imgp2p daemon ready, peer id ${node.peerId}, data dir ${args.dataDir}\n`)
  await new Promise<void>(resolve => {
    const stop = (): void => { resolve() }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  server.close()
  await metrics?.close()
  await node.stop()
  return 0
}

/**
 * `imgp2p daemon --metrics HOST:PORT`: the daemon's figures in Prometheus'
 * text format (version 0.0.4) at http://HOST:PORT/metrics, so a cloud's
 * monitoring sees every hypervisor's swarm without polling `imgp2p status`
 * over ssh. Rendering is a pure function of the status; the server only
 * serves what it renders.
 *
 * Off unless asked for. Image CIDs are labels, so bind it where only the
 * monitoring reaches (127.0.0.1, or the management network).
 */
import { createServer, type Server } from 'node:http'
import { Imgp2pError, UsageError } from '../errors.js'
import type { NodeStatus } from './node-types.js'

type Kind = 'counter' | 'gauge' | 'summary'

class Exposition {
  private readonly lines: string[] = []

  family (name: string, kind: Kind, help: string, samples: Array<[labels: Record<string, string>, value: number, suffix?: string]>): void {
    if (samples.length === 0) return
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${kind}`)
    for (const [labels, value, suffix] of samples) this.lines.push(`${name}${suffix ?? ''}${labelText(labels)} ${formatValue(value)}`)
  }

  text (): string { return this.lines.join('\n') + '\n' }
}

function labelText (labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}

function formatValue (v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf'
  return String(v)
}

/** The status as Prometheus text. */
export function renderMetrics (s: NodeStatus): string {
  const e = new Exposition()
  e.family('imgp2p_info', 'gauge', 'This daemon: its peer id and zone.', [[{ peer_id: s.peerId, zone: s.zone ?? '' }, 1]])
  e.family('imgp2p_peers', 'gauge', 'Peers connected now.', [[{}, s.peers.length]])
  e.family('imgp2p_sent_bytes_total', 'counter', 'Chunk and manifest bytes sent to peers.', [[{}, s.bytesSent]])
  e.family('imgp2p_received_bytes_total', 'counter', 'Chunk bytes received from peers, duplicates included.', [[{}, s.bytesReceived]])
  e.family('imgp2p_received_cross_zone_bytes_total', 'counter', 'Of the received bytes, those from peers of another zone.', [[{}, s.bytesReceivedCrossZone]])
  const p = s.pulls
  e.family('imgp2p_pulls_total', 'counter', 'Pulls finished, by result.', [[{ result: 'ok' }, p.ok], [{ result: 'failed' }, p.failed]])
  e.family('imgp2p_pull_seconds', 'summary', 'Time taken by successful pulls.', [[{}, p.seconds, '_sum'], [{}, p.ok, '_count']])
  e.family('imgp2p_pulled_bytes_total', 'counter', 'Verified chunk bytes successful pulls fetched from peers.', [[{}, p.bytesFetched]])
  e.family('imgp2p_verified_chunks_total', 'counter', 'Chunks imgp2p verify read back and hashed.', [[{}, s.verified.chunks]])
  e.family('imgp2p_damaged_chunks_total', 'counter', 'Of those, chunks found damaged on disk (no longer served).', [[{}, s.verified.damaged]])
  const count = (state: string): number => s.images.filter(i => imageState(i) === state).length
  e.family('imgp2p_images', 'gauge', 'Images in the cache, by state.', ['complete', 'pulling', 'partial'].map(st => [{ state: st }, count(st)]))
  const per = (f: (i: NodeStatus['images'][number]) => number): Array<[Record<string, string>, number]> => s.images.map(i => [{ cid: i.cid }, f(i)])
  e.family('imgp2p_image_size_bytes', 'gauge', 'Size of each cached image.', per(i => i.size))
  e.family('imgp2p_image_chunks', 'gauge', 'Chunks of each cached image.', per(i => i.chunkCount))
  e.family('imgp2p_image_held_chunks', 'gauge', 'Verified chunks held of each cached image.', per(i => i.haveCount))
  e.family('imgp2p_image_peers', 'gauge', 'Peers trading each image with us now.', per(i => i.links))
  e.family('imgp2p_image_upload_bytes_per_second', 'gauge', 'Recent upload rate of each image.', per(i => i.uploadRate))
  e.family('imgp2p_image_download_bytes_per_second', 'gauge', 'Recent download rate of each image.', per(i => i.downloadRate))
  e.family('imgp2p_image_corrupt_chunks_total', 'counter', 'Chunks of each image that failed verification.', per(i => i.corruptChunks))
  if (s.cache != null) {
    e.family('imgp2p_cache_bytes', 'gauge', 'Disk the cache\'s images take, as of the last pass.', [[{}, s.cache.bytes]])
    e.family('imgp2p_cache_max_bytes', 'gauge', 'The --cache-max bound.', [[{}, s.cache.maxBytes]])
  }
  if (s.uploadCapBps != null) e.family('imgp2p_upload_cap_bits_per_second', 'gauge', 'The --upload-mbit cap.', [[{}, s.uploadCapBps]])
  if (s.downloadCapBps != null) e.family('imgp2p_download_cap_bits_per_second', 'gauge', 'The --download-mbit cap.', [[{}, s.downloadCapBps]])
  if (s.cpu != null) e.family('imgp2p_compressed_chunks_taken', 'gauge', '1 while this host takes compressed chunks (its CPU has room).', [[{}, s.cpu.compressedChunks ? 1 : 0]])
  e.family('imgp2p_swarm_closed', 'gauge', '1 when the swarm is closed by --swarm-key.', [[{}, s.swarm != null ? 1 : 0]])
  if (s.swarm != null) e.family('imgp2p_swarm_refused_connections_total', 'counter', 'Connections refused for want of the swarm key.', [[{}, s.swarm.refused]])
  return e.text()
}

function imageState (i: NodeStatus['images'][number]): string {
  return i.complete ? 'complete' : i.downloading ? 'pulling' : 'partial'
}

/** `HOST:PORT`, `[V6]:PORT`; port 0 picks a free one. */
export function parseListen (text: string): { host: string, port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text)
  const port = m != null ? Number(m[3]) : NaN
  if (m == null || port > 65535) throw new UsageError(`--metrics wants HOST:PORT (e.g. 127.0.0.1:9464), got "${text}"`)
  return { host: m[1] ?? m[2], port }
}

export interface MetricsServer {
  /** Where to scrape. */
  url: string
  close: () => Promise<void>
}

/** Serve `render()` at /metrics; everything else is 404. */
export async function startMetricsServer (listen: string, render: () => Promise<string>): Promise<MetricsServer> {
  const { host, port } = parseListen(listen)
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('imgp2p serves only GET /metrics here\n')
      return
    }
    render().then((body) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body)
    }, (err: Error) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new Imgp2pError(`--metrics ${listen}: ${err.code === 'EADDRINUSE' ? 'the address is in use' : err.code === 'EADDRNOTAVAIL' ? 'no such address on this host' : err.message}`))
    })
    server.listen(port, host, () => { resolve() })
  })
  const addr = server.address()
  const bound = typeof addr === 'object' && addr != null ? addr.port : port
  const shown = host.includes(':') ? `[${host}]` : host
  return {
    url: `http://${shown}:${bound}/metrics`,
    close: async () => { await new Promise<void>(resolve => { server.close(() => { resolve() }) }) }
  }
}

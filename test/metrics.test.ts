/**
 * --metrics: the daemon's figures in Prometheus' text format. The text is
 * checked line by line against the exposition format, and the counters
 * against what a pull, a failed pull and a removal did.
 */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { parseListen, renderMetrics, startMetricsServer } from '../src/node/metrics.js'
import type { NodeStatus } from '../src/node/node-types.js'
import { addrOf, perTest, startNode } from './helpers.js'

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? (-?[0-9.e+]+|NaN|[+-]Inf)$/

/** Every line valid, every sample under its own HELP and TYPE; returns name{labels} -> value. */
function parse (text: string): Map<string, number> {
  const out = new Map<string, number>()
  let family = ''
  let kind = ''
  expect(text.endsWith('\n')).toBe(true)
  for (const line of text.trimEnd().split('\n')) {
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$/.exec(line)
    if (help != null) { family = help[1]; kind = ''; continue }
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|summary)$/.exec(line)
    if (type != null) { expect(type[1]).toBe(family); kind = type[2]; continue }
    const m = SAMPLE.exec(line)
    expect(m, line).not.toBeNull()
    const name = (m as RegExpExecArray)[1]
    expect(kind, line).not.toBe('')
    expect(kind === 'summary' ? name.replace(/_(sum|count)$/, '') : name).toBe(family)
    if (kind === 'counter') expect(name.endsWith('_total'), line).toBe(true)
    out.set(line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1)))
  }
  return out
}

type ImageStatus = NodeStatus['images'][number]

function image (cid: string, over: Partial<ImageStatus>): ImageStatus {
  return { cid, size: 100, chunkSize: 50, chunkCount: 2, haveCount: 0, complete: false, downloading: false, links: 0, uploadRate: 0, downloadRate: 0, corruptChunks: 0, bannedPeers: [], ...over } as ImageStatus
}

function status (over: Partial<NodeStatus> = {}): NodeStatus {
  return {
    peerId: '12D3KooWtest',
    addrs: [],
    zone: 'rack "7"\nb',
    peers: [{ id: 'a', addrs: [] }],
    pulls: { ok: 2, failed: 1, seconds: 3.5, bytesFetched: 1000 },
    verified: { chunks: 30, damaged: 2 },
    bytesSent: 10,
    bytesReceived: 20,
    bytesReceivedCrossZone: 5,
    images: [
      image('bafyA', { haveCount: 2, complete: true, links: 1, uploadRate: 7 }),
      image('bafyB', { haveCount: 1, downloading: true, links: 3, downloadRate: 9, corruptChunks: 1 })
    ],
    ...over
  } as NodeStatus
}

describe('metrics text', () => {
  it('is valid exposition format, with labels escaped', () => {
    const m = parse(renderMetrics(status({ cache: { bytes: 5, maxBytes: 9 }, uploadCapBps: 1e6, swarm: { fingerprint: 'f', refused: 4 } })))
    const want: Record<string, number | undefined> = {
      'imgp2p_info{peer_id="12D3KooWtest",zone="rack \\"7\\"\\nb"}': 1,
      'imgp2p_pulls_total{result="ok"}': 2,
      'imgp2p_pulls_total{result="failed"}': 1,
      imgp2p_pull_seconds_sum: 3.5,
      imgp2p_pull_seconds_count: 2,
      imgp2p_verified_chunks_total: 30,
      imgp2p_damaged_chunks_total: 2,
      'imgp2p_images{state="complete"}': 1,
      'imgp2p_images{state="pulling"}': 1,
      'imgp2p_images{state="partial"}': 0,
      'imgp2p_image_held_chunks{cid="bafyB"}': 1,
      'imgp2p_image_corrupt_chunks_total{cid="bafyB"}': 1,
      imgp2p_cache_max_bytes: 9,
      imgp2p_upload_cap_bits_per_second: 1e6,
      imgp2p_download_cap_bits_per_second: undefined,
      imgp2p_swarm_closed: 1,
      imgp2p_swarm_refused_connections_total: 4
    }
    for (const [k, v] of Object.entries(want)) expect(m.get(k), k).toBe(v)
  })

  it('leaves out what a daemon does not run', () => {
    const m = parse(renderMetrics(status({ images: [] })))
    expect(m.get('imgp2p_swarm_closed')).toBe(0)
    expect([...m.keys()].some(k => k.startsWith('imgp2p_cache') || k.startsWith('imgp2p_image_') || k.startsWith('imgp2p_swarm_refused'))).toBe(false)
  })

  it('reads HOST:PORT and [V6]:PORT, and refuses anything else', () => {
    expect(parseListen('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 })
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 })
    expect(parseListen('monitor.local:80')).toEqual({ host: 'monitor.local', port: 80 })
    for (const bad of ['9464', '127.0.0.1', '1.2.3.4:99999', '::1:80', '']) expect(() => parseListen(bad), bad).toThrow(/--metrics wants HOST:PORT/)
  })
})

describe('metrics server', () => {
  const { dir, track } = perTest()

  it('serves a daemon\'s counters as pulls succeed, fail and images go', async () => {
    const root = await dir('imgp2p-metrics-')
    const origin = track(await startNode(join(root, 'origin')))
    const host = track(await startNode(join(root, 'host'), { peers: [addrOf(origin)], seed: 2 }))
    const server = await startMetricsServer('127.0.0.1:0', async () => renderMetrics(await host.status()))
    try {
      const scrape = async (): Promise<Map<string, number>> => {
        const res = await fetch(server.url)
        expect(res.status).toBe(200)
        expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
        return parse(await res.text())
      }
      expect((await fetch(server.url.replace('/metrics', '/other'))).status).toBe(404)
      const image = join(root, 'img.raw')
      await writeFile(image, randomBytes(2 * 1024 * 1024))
      const { cid } = await origin.add(image)
      await host.pull(cid, { timeoutMs: 20_000 })
      // An image nobody holds: the pull gives up.
      const nobody = CID.create(1, 0x71, await sha256.digest(randomBytes(16))).toString()
      await expect(host.pull(nobody, { timeoutMs: 500 })).rejects.toThrow()
      const m = await scrape()
      expect(m.get('imgp2p_pulls_total{result="ok"}')).toBe(1)
      expect(m.get('imgp2p_pulls_total{result="failed"}')).toBe(1)
      expect(m.get('imgp2p_pulled_bytes_total')).toBe(2 * 1024 * 1024)
      expect(m.get('imgp2p_pull_seconds_sum')).toBeGreaterThan(0)
      expect(m.get(`imgp2p_image_held_chunks{cid="${cid}"}`)).toBe(m.get(`imgp2p_image_chunks{cid="${cid}"}`))
      const received = m.get('imgp2p_received_bytes_total') ?? 0
      expect(received).toBeGreaterThanOrEqual(2 * 1024 * 1024)
      expect(m.get('imgp2p_peers')).toBeGreaterThanOrEqual(1)
      expect(m.get('imgp2p_verified_chunks_total')).toBe(0)
      await host.verify(cid)
      expect((await scrape()).get('imgp2p_verified_chunks_total')).toBe(m.get(`imgp2p_image_chunks{cid="${cid}"}`))
      // A removed image's traffic stays counted: counters never go down.
      await host.remove(cid)
      const after = await scrape()
      expect(after.get('imgp2p_received_bytes_total')).toBe(received)
      expect(after.get(`imgp2p_image_chunks{cid="${cid}"}`)).toBeUndefined()
    } finally {
      await server.close()
    }
  }, 40_000)

  it('fails in one line when the address is taken', async () => {
    const blocker = createServer()
    await new Promise<void>(resolve => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as { port: number }).port
    try {
      await expect(startMetricsServer(`127.0.0.1:${port}`, async () => '')).rejects.toThrow(`--metrics 127.0.0.1:${port}: the address is in use`)
    } finally {
      blocker.close()
    }
  })
})

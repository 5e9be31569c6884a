/**
 * Chunk bytes over plain TCP beside libp2p (src/node/plain-chunks.ts): a
 * swarm that offers them moves its chunks there and still ends byte-identical;
 * a host without them still gets everything over libp2p; a lying peer is still
 * caught by CID; the port takes only the tokens it handed out.
 */
import { connect } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Imgp2pNode } from '../src/node/node.js'
import { PlainPieceDecoder, encodePlainPieceHeader } from '../src/node/plain-chunks.js'
import { FaultyStore, addrOf, sha256File, startNode, tempDir, waitFor, writeImage } from './helpers.js'

const MiB = 1024 * 1024
let cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
  cleanups = []
})

async function setup (): Promise<string> {
  const t = await tempDir()
  cleanups.push(t.cleanup)
  return t.path
}

function track (node: Imgp2pNode): Imgp2pNode {
  cleanups.push(async () => { await node.stop() })
  return node
}

describe('plain chunks', () => {
  it('moves the chunks over plain TCP when both ends offer it, and every host ends byte-identical', async () => {
    const dir = await setup()
    const image = join(dir, 'image.raw')
    await writeImage(image, 12 * MiB + 4321)
    const want = await sha256File(image)
    const origin = track(await startNode(join(dir, 'origin'), { plainChunks: {}, store: await FaultyStore.open(join(dir, 'origin'), { readDelayMs: 3 }) }))
    const { cid } = await origin.add(image, { chunkSize: 256 * 1024 })
    const hosts = await Promise.all([1, 2, 3].map(async i => track(await startNode(join(dir, `h${i}`), { peers: [addrOf(origin)], seed: i, plainChunks: {} }))))
    await waitFor(() => hosts.every(h => h.host.getPeers().length > 0), 10_000, 'hosts to connect')

    const results = await Promise.all(hosts.map(async (h, i) => await h.pull(cid, { out: join(dir, `out${i}.raw`), timeoutMs: 30_000 })))
    for (const r of results) expect(await sha256File(r.path)).toBe(want)
    const st = await Promise.all([origin, ...hosts].map(async n => await n.status()))
    for (const s of st) expect(s.plainChunks?.port).toBeGreaterThan(0)
    // Nearly all chunk bytes went the plain way (the first ones may leave before a socket is up).
    for (const s of st.slice(1)) expect(s.plainChunks?.bytesReceived ?? 0).toBeGreaterThan(0.75 * s.bytesReceived)
    const plainSent = st.reduce((n, s) => n + (s.plainChunks?.bytesSent ?? 0), 0)
    const plainReceived = st.reduce((n, s) => n + (s.plainChunks?.bytesReceived ?? 0), 0)
    expect(plainSent).toBeGreaterThanOrEqual(plainReceived)
    expect(plainReceived).toBeGreaterThan(3 * 12 * MiB * 0.75)
  })

  it('serves a host that does not offer them over libp2p, as before', async () => {
    const dir = await setup()
    const image = join(dir, 'image.raw')
    await writeImage(image, 4 * MiB)
    const want = await sha256File(image)
    const origin = track(await startNode(join(dir, 'origin'), { plainChunks: {} }))
    const { cid } = await origin.add(image, { chunkSize: 128 * 1024 })
    const host = track(await startNode(join(dir, 'h1'), { peers: [addrOf(origin)] }))
    await waitFor(() => host.host.getPeers().length > 0, 10_000, 'host to connect')
    const r = await host.pull(cid, { out: join(dir, 'out.raw'), timeoutMs: 30_000 })
    expect(await sha256File(r.path)).toBe(want)
    expect((await host.status()).plainChunks).toBeUndefined()
    expect((await origin.status()).plainChunks?.bytesSent).toBe(0)
  })

  it('still catches a peer that sends bytes that do not match their CID', async () => {
    const dir = await setup()
    const image = join(dir, 'image.raw')
    await writeImage(image, 4 * MiB)
    const want = await sha256File(image)
    // The honest origin is slow, the liar fast: the puller asks the liar first.
    const origin = track(await startNode(join(dir, 'origin'), { plainChunks: {}, store: await FaultyStore.open(join(dir, 'origin'), { readDelayMs: 30 }) }))
    const { cid } = await origin.add(image, { chunkSize: 128 * 1024 })
    const liar = track(await startNode(join(dir, 'liar'), { peers: [addrOf(origin)], plainChunks: {}, store: await FaultyStore.open(join(dir, 'liar'), { corrupt: () => true }) }))
    await liar.add(image, { chunkSize: 128 * 1024 })
    const host = track(await startNode(join(dir, 'h1'), { peers: [addrOf(origin), addrOf(liar)], plainChunks: {} }))
    await waitFor(() => host.host.getPeers().length >= 2, 10_000, 'host to reach both')
    const r = await host.pull(cid, { out: join(dir, 'out.raw'), timeoutMs: 30_000 })
    expect(await sha256File(r.path)).toBe(want)
    const img = (await host.status()).images.find(i => i.cid === cid)
    // The liar's chunks came the plain way, failed their CID, and it was dropped.
    expect(img?.corruptChunks).toBeGreaterThan(0)
    expect(img?.bannedPeers).toContain(liar.peerId)
  })

  it('closes a connection that does not open with a token it handed out', async () => {
    const dir = await setup()
    const node = track(await startNode(join(dir, 'n'), { plainChunks: {} }))
    const port = (await node.status()).plainChunks?.port ?? 0
    const sock = connect({ host: '127.0.0.1', port })
    const got: Buffer[] = []
    sock.on('data', (d: Buffer) => got.push(d))
    sock.on('error', () => {})
    await new Promise<void>(resolve => sock.once('connect', () => { resolve() }))
    sock.write(Buffer.alloc(16, 7))
    await new Promise<void>(resolve => sock.once('close', () => { resolve() }))
    expect(Buffer.concat(got).length).toBe(0)
  })
})

describe('plain piece framing', () => {
  it('reassembles pieces split across reads at any byte, and refuses one over the chunk size', () => {
    const a = Buffer.alloc(1000, 1)
    const b = Buffer.alloc(10, 2)
    const wire = Buffer.concat([encodePlainPieceHeader(7, a.length), a, encodePlainPieceHeader(9, b.length), b])
    for (const step of [1, 3, 8, 999, wire.length]) {
      const d = new PlainPieceDecoder(1000)
      const out = []
      for (let off = 0; off < wire.length; off += step) out.push(...d.push(wire.subarray(off, off + step)))
      expect(out.map(p => [p.index, p.data.length, p.data[0]])).toEqual([[7, 1000, 1], [9, 10, 2]])
    }
    expect(() => new PlainPieceDecoder(999).push(encodePlainPieceHeader(1, 1000))).toThrow(/over the chunk size/)
  })
})

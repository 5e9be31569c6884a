/**
 * --upload-mbit: the chunk data a host sends, across all its peers, stays
 * under its cap. Every chunk of an image must leave the front-end at least
 * once, so with the front-end capped a deployment cannot end sooner than
 * the image takes at the cap.
 */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Imgp2pNode } from '../src/node/node.js'
import { addrOf, sha256File, startNode, tempDir } from './helpers.js'

const MiB = 1024 * 1024
const CAP_BPS = 8e6 // 1 MB/s of chunk data
const BURST = 512 * 1024 // upload-pacer.ts: the larger of 100 ms at the rate and 512 KiB

describe('upload cap', () => {
  const nodes: Imgp2pNode[] = []
  let cleanup: (() => Promise<void>) | undefined
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
    await cleanup?.()
  })

  it('holds the front-end to its cap while two hosts pull from it at once', async () => {
    const t = await tempDir('imgp2p-cap-')
    cleanup = t.cleanup
    const origin = await startNode(join(t.path, 'origin'), { uploadBps: CAP_BPS })
    nodes.push(origin)
    const hosts = await Promise.all([1, 2].map(async i => await startNode(join(t.path, `h${i}`), { peers: [addrOf(origin)], seed: i })))
    nodes.push(...hosts)
    const image = join(t.path, 'img.raw')
    await writeFile(image, randomBytes(4 * MiB))
    const { cid } = await origin.add(image)
    const t0 = performance.now()
    await Promise.all(hosts.map(async (h, i) => await h.pull(cid, { out: join(t.path, `vm${i}.raw`), timeoutMs: 30_000 })))
    const seconds = (performance.now() - t0) / 1000
    for (const i of [0, 1]) expect(await sha256File(join(t.path, `vm${i}.raw`))).toBe(await sha256File(image))
    const sent = (await origin.status()).bytesSent
    expect(sent).toBeGreaterThanOrEqual(4 * MiB)
    // Never faster than the cap allows (timers fire late, never early)...
    expect(seconds).toBeGreaterThanOrEqual((4 * MiB - BURST) / (CAP_BPS / 8))
    // ...and what it sent fits the cap over the time it took.
    expect(sent).toBeLessThanOrEqual(BURST + seconds * CAP_BPS / 8 * 1.02)
  }, 30_000)
})

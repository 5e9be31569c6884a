/**
 * --upload-mbit: the chunk data a host sends, across all its peers, stays
 * under its cap. Every chunk of an image must leave the front-end at least
 * once, so with the front-end capped a deployment cannot end sooner than
 * the image takes at the cap.
 */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { sendableBps } from '../src/node/upload-pacer.js'
import { addrOf, perTest, sha256File, startNode } from './helpers.js'

const MiB = 1024 * 1024
const CAP_BPS = 8e6 // 1 MB/s of chunk data
const BURST = 512 * 1024 // upload-pacer.ts: the larger of 100 ms at the rate and 512 KiB

describe('upload cap', () => {
  const { dir, track } = perTest()

  it('holds the front-end to its cap while two hosts pull from it at once', async () => {
    const root = await dir('imgp2p-cap-')
    const origin = track(await startNode(join(root, 'origin'), { uploadBps: CAP_BPS }))
    const hosts = await Promise.all([1, 2].map(async i => track(await startNode(join(root, `h${i}`), { peers: [addrOf(origin)], seed: i }))))
    const image = join(root, 'img.raw')
    await writeFile(image, randomBytes(4 * MiB))
    const { cid } = await origin.add(image)
    const t0 = performance.now()
    await Promise.all(hosts.map(async (h, i) => await h.pull(cid, { out: join(root, `vm${i}.raw`), timeoutMs: 30_000 })))
    const seconds = (performance.now() - t0) / 1000
    for (const i of [0, 1]) expect(await sha256File(join(root, `vm${i}.raw`))).toBe(await sha256File(image))
    const sent = (await origin.status()).bytesSent
    expect(sent).toBeGreaterThanOrEqual(4 * MiB)
    // Never faster than the cap allows (timers fire late, never early)...
    expect(seconds).toBeGreaterThanOrEqual((4 * MiB - BURST) / (CAP_BPS / 8))
    // ...and what it sent fits the cap over the time it took.
    expect(sent).toBeLessThanOrEqual(BURST + seconds * CAP_BPS / 8 * 1.02)
  }, 30_000)
})

describe('sendableBps', () => {
  it('is the stated link, or the cap below it: what a capped front-end counts as its uplink', () => {
    expect(sendableBps(10e9, 2e9)).toBe(2e9)
    expect(sendableBps(1e9, 2e9)).toBe(1e9)
    expect(sendableBps(undefined, 2e9)).toBe(2e9)
    expect(sendableBps(1e9, undefined)).toBe(1e9)
    expect(sendableBps(undefined, undefined)).toBeUndefined()
  })
})

/**
 * --upload-mbit: the chunk data a host sends, across all its peers, stays
 * under its cap. Every chunk of an image must leave the front-end at least
 * once, so with the front-end capped a deployment cannot end sooner than
 * the image takes at the cap.
 * --download-mbit: what a host receives, from all its peers, stays under its
 * cap however many of them could send.
 */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { cappedBps } from '../src/node/rate-pacer.js'
import { addrOf, perTest, sha256File, startNode } from './helpers.js'

const MiB = 1024 * 1024
const CAP_BPS = 8e6 // 1 MB/s of chunk data
const BURST = 512 * 1024 // rate-pacer.ts: the larger of 100 ms at the rate and 512 KiB

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

describe('download cap', () => {
  const { dir, track } = perTest()

  it('holds a host to its cap while two uncapped seeds could send it far more', async () => {
    const root = await dir('imgp2p-dcap-')
    const origin = track(await startNode(join(root, 'origin')))
    const seed = track(await startNode(join(root, 'seed'), { peers: [addrOf(origin)], seed: 2 }))
    const image = join(root, 'img.raw')
    await writeFile(image, randomBytes(4 * MiB))
    const { cid } = await origin.add(image)
    await seed.pull(cid, { timeoutMs: 30_000 })
    const host = track(await startNode(join(root, 'host'), { peers: [addrOf(origin), addrOf(seed)], downloadBps: CAP_BPS, seed: 3 }))
    expect((await host.status()).downloadCapBps).toBe(CAP_BPS)
    const t0 = performance.now()
    await host.pull(cid, { out: join(root, 'vm.raw'), timeoutMs: 30_000 })
    const seconds = (performance.now() - t0) / 1000
    expect(await sha256File(join(root, 'vm.raw'))).toBe(await sha256File(image))
    const chunk = (await host.list())[0].chunkSize
    expect(chunk).toBeGreaterThan(0)
    // The last request starts once the bucket has paid for all but one chunk beyond its burst...
    expect(seconds).toBeGreaterThanOrEqual((4 * MiB - BURST - chunk) / (CAP_BPS / 8))
    // ...and what arrived fits the cap over the time taken (one chunk of debt at most).
    const received = (await host.status()).bytesReceived
    expect(received).toBeGreaterThanOrEqual(4 * MiB)
    expect(received).toBeLessThanOrEqual(BURST + chunk + seconds * CAP_BPS / 8 * 1.02)
  }, 30_000)
})

describe('cappedBps', () => {
  it('is the stated link, or the cap below it: what a capped front-end counts as its uplink', () => {
    expect(cappedBps(10e9, 2e9)).toBe(2e9)
    expect(cappedBps(1e9, 2e9)).toBe(1e9)
    expect(cappedBps(undefined, 2e9)).toBe(2e9)
    expect(cappedBps(1e9, undefined)).toBe(1e9)
    expect(cappedBps(undefined, undefined)).toBeUndefined()
  })
})

/**
 * A seed whose disk damaged a chunk after it was verified: the host that
 * receives the damage says so (DAMAGED), and the seed checks its copy, stops
 * serving the image and tells its operator, instead of going on serving the
 * damage to every host.
 */
import { randomBytes } from 'node:crypto'
import { open, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseCid } from '../src/chunking/cid.js'
import { chunkOffset, isZeroChunk } from '../src/chunking/manifest.js'
import type { ImageStore } from '../src/cache/types.js'
import { chunkCid } from '../src/chunking/cid.js'
import type { Manifest } from '../src/chunking/manifest.js'
import { DamageReports } from '../src/node/damage-reports.js'
import { addrOf, perTest, startNode, waitFor } from './helpers.js'

/** A store of one two-chunk image whose chunk 1 reads back damaged; `complete` says where it lives. */
function storeOf (complete: boolean): { store: ImageStore, reads: number[] } {
  const good = [new Uint8Array(64).fill(1), new Uint8Array(64).fill(2)]
  const manifest: Manifest = { version: 1, size: 128, chunkSize: 64, chunks: good.map(b => chunkCid(b)) }
  const reads: number[] = []
  const store = {
    getManifest: async () => manifest,
    readChunk: async (_cid: unknown, i: number) => { reads.push(i); return i === 1 ? new Uint8Array(64).fill(9) : good[i] },
    completePath: async () => complete ? '/cache/images/x' : undefined
  } as unknown as ImageStore
  return { store, reads }
}

const KEY = 'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

describe('damage reports', () => {
  const { dir, track } = perTest()

  it('a seed told of a chunk damaged on its disk goes back to partial and says why', async () => {
    const root = await dir('imgp2p-damage-')
    const origin = await startNode(join(root, 'origin'))
    const image = join(root, 'img.raw')
    await writeFile(image, randomBytes(3 * 1024 * 1024))
    const { cid } = await origin.add(image)
    const seedNotices: string[] = []
    const seed = track(await startNode(join(root, 'seed'), { peers: [addrOf(origin)], seed: 2, notice: (m) => { seedNotices.push(m) } }))
    await seed.pull(cid, { timeoutMs: 20_000 })
    // From here the seed is the only holder.
    await origin.stop()

    const manifest = await seed.store.getManifest(parseCid(cid))
    if (manifest == null) throw new Error('seed lacks the manifest')
    const bad = manifest.chunks.findIndex((_, i) => !isZeroChunk(manifest, i))
    const file = await seed.store.completePath(parseCid(cid)) as string
    const fh = await open(file, 'r+')
    await fh.write(Buffer.from('rot'), 0, 3, chunkOffset(manifest, bad) + 100)
    await fh.close()

    const host = track(await startNode(join(root, 'host'), { peers: [addrOf(seed)], seed: 3 }))
    // The seed's copy of one chunk is damaged and no one else has it: the pull cannot finish.
    await expect(host.pull(cid, { timeoutMs: 4000 })).rejects.toThrow()

    await waitFor(async () => (await seed.store.completePath(parseCid(cid))) == null, 10_000, 'the seed to stop holding the image as complete')
    expect(await seed.store.info(parseCid(cid))).toMatchObject({ complete: false, haveCount: manifest.chunks.length - 1 })
    expect(seedNotices.some(m => m.includes(`chunk ${bad} of ${cid} it got from here failed its CID, and it is damaged on disk here`))).toBe(true)
    expect(seedNotices.some(m => m.startsWith(`verify: 1 chunk of ${cid} no longer match`))).toBe(true)
    expect((await seed.status()).verified.damaged).toBe(1)
    // The host took the damaged chunk once or twice, not until its timeout: the seed stopped serving the image.
    const corrupt = (await host.status()).images.find(i => i.cid === cid)?.corruptChunks ?? 0
    expect(corrupt).toBeGreaterThanOrEqual(1)
    expect(corrupt).toBeLessThanOrEqual(3)
  }, 60_000)

  it('reads a reported chunk back: sound, it only says so; damaged in a pull, it withholds the chunk and verifies when the pull ends; each chunk once per 10 minutes', async () => {
    for (const complete of [true, false]) {
      const { store, reads } = storeOf(complete)
      const notices: string[] = []
      const verified: string[] = []
      const withheld: Array<[string, number]> = []
      let now = 0
      let busy = 1 // the ended pull still holds the image open at the first verify
      const reports = new DamageReports({
        store,
        verify: async (k) => {
          verified.push(k)
          return [{ cid: k, state: busy-- > 0 ? 'busy' : 'complete', checked: 0, bad: [] }]
        },
        withhold: (k, i) => { withheld.push([k, i]) },
        notice: (m) => { notices.push(m) },
        now: () => now,
        retryMs: 1
      })
      await reports.report(KEY, 0, '12D3KooWpeerAAAAAAAA')
      expect(notices.at(-1)).toBe(`peer AAAAAAAA says chunk 0 of ${KEY} it got from here failed its CID; it is sound on disk here`)
      await reports.report(KEY, 1, '12D3KooWpeerAAAAAAAA')
      if (complete) {
        expect(notices.at(-1)).toMatch(/, and it is damaged on disk here: checking the whole image$/)
        expect(verified).toEqual([KEY, KEY]) // once busy, then done
        expect(withheld).toEqual([])
      } else {
        expect(notices.at(-1)).toMatch(/, and it is damaged on disk here: no longer served; the image is verified when its pull ends$/)
        expect(withheld).toEqual([[KEY, 1]])
        expect(verified).toEqual([])
        await reports.pullEnded(KEY)
        expect(verified).toEqual([KEY, KEY])
        await reports.pullEnded(KEY) // once only
        expect(verified).toEqual([KEY, KEY])
      }
      // Asked again soon (another peer, the same chunk): not read again.
      now += 60_000
      await reports.report(KEY, 0, '12D3KooWpeerBBBBBBBB')
      expect(reads).toEqual([0, 1])
      now += 10 * 60_000
      await reports.report(KEY, 0, '12D3KooWpeerBBBBBBBB')
      expect(reads).toEqual([0, 1, 0])
    }
  })
})

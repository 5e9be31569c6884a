/**
 * --cache-max: a host's cache of complete images stays under its bound by
 * removing the least recently used images nothing needs; what was added on
 * the host, what is being pulled and what was used within the grace period
 * stay.
 */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { pickEvictions } from '../src/cache/eviction.js'
import { FsImageStore } from '../src/cache/image-store.js'
import { CacheKeeper } from '../src/node/cache-keeper.js'
import { addrOf, perTest, sha256File, startNode, tempDir, waitFor } from './helpers.js'

const KiB = 1024
const MiB = 1024 * KiB

describe('pickEvictions', () => {
  const img = (cid: string, bytes: number, lastUsedMs: number, pinned = false): { cid: string, bytes: number, lastUsedMs: number, pinned: boolean } => ({ cid, bytes, lastUsedMs, pinned })

  it('removes the least recently used until the rest fit', () => {
    expect(pickEvictions([img('a', 4, 30), img('b', 4, 10), img('c', 4, 20)], 8)).toEqual(['b'])
    expect(pickEvictions([img('a', 4, 30), img('b', 4, 10), img('c', 4, 20)], 4)).toEqual(['b', 'c'])
    expect(pickEvictions([img('a', 4, 30), img('b', 4, 10)], 8)).toEqual([])
  })

  it('never removes a pinned image, which still counts towards the bound', () => {
    expect(pickEvictions([img('old', 4, 1, true), img('b', 4, 10), img('c', 4, 20)], 8)).toEqual(['b'])
    expect(pickEvictions([img('huge', 20, 1, true), img('b', 4, 10), img('c', 4, 20)], 8)).toEqual(['b', 'c'])
  })
})

describe('CacheKeeper over a real cache', () => {
  let cleanup: (() => Promise<void>) | undefined
  afterEach(async () => { await cleanup?.() })

  async function setup (graceMs: number, maxBytes = 2 * MiB + 512 * KiB): Promise<{ store: FsImageStore, keeper: CacheKeeper, cids: string[], clock: { t: number }, served: Map<string, number>, pinned: Set<string>, removed: string[] }> {
    const t = await tempDir('imgp2p-keeper-')
    cleanup = t.cleanup
    const store = await FsImageStore.open(join(t.path, 'data'))
    // An hour ahead of the files' own times: an image never touched here is older than any touched one.
    const clock = { t: Date.now() + 3_600_000 }
    const served = new Map<string, number>()
    const pinned = new Set<string>()
    const removed: string[] = []
    const keeper = new CacheKeeper({
      store,
      maxBytes,
      graceMs,
      now: () => clock.t,
      pinned: (cid) => pinned.has(cid),
      served: (cid) => served.get(cid) ?? 0,
      remove: async (cid) => { removed.push(cid); await store.remove(CID.parse(cid)) },
      log: () => {}
    })
    const cids: string[] = []
    for (const name of ['a', 'b', 'c']) {
      await writeFile(join(t.path, name), randomBytes(MiB))
      const { cid } = await store.importFile(join(t.path, name))
      cids.push(cid.toString())
      keeper.touch(cid.toString())
      clock.t += 60_000
    }
    return { store, keeper, cids, clock, served, pinned, removed }
  }

  const listed = async (store: FsImageStore): Promise<string[]> => (await store.list()).map(i => i.cid).sort()

  it('removes the least recently used image, reports the usage, and keeps an image just served', async () => {
    const { store, keeper, cids: [a, b, c], clock, served, removed } = await setup(0)
    served.set(a, 5 * MiB) // a peer pulled a from us since: it is the most recently used now
    await keeper.enforce()
    expect(removed).toEqual([b])
    expect(await listed(store)).toEqual([a, c].sort())
    expect(keeper.usage()).toEqual({ bytes: 2 * MiB, maxBytes: 2 * MiB + 512 * KiB })
    clock.t += 60_000
    await keeper.enforce() // under the bound: nothing more goes
    expect(removed).toEqual([b])
  })

  it('removes the partial copy of a pull given up on like any other image, oldest first', async () => {
    const { store, keeper, cids: [a, b, c], removed } = await setup(0)
    const t = await tempDir('imgp2p-keeper-seed-')
    try {
      await writeFile(join(t.path, 'd'), randomBytes(2 * MiB))
      const seeder = await FsImageStore.open(join(t.path, 'seed'))
      const { cid, manifest } = await seeder.importFile(join(t.path, 'd'))
      await store.putManifest(cid, (await seeder.getManifestBytes(cid)) as Uint8Array)
      const partial = await store.openPartial(cid, manifest)
      await partial.writeChunk(0, (await seeder.readChunk(cid, 0)) as Uint8Array)
      await partial.close()
      expect((await store.diskUsage(cid))?.bytes).toBeGreaterThanOrEqual(manifest.chunkSize)
      await keeper.enforce()
      expect(removed).toEqual([cid.toString(), a])
      expect(await store.diskUsage(cid)).toBeUndefined()
      expect(await listed(store)).toEqual([b, c].sort())
    } finally {
      await t.cleanup()
    }
  })

  it('keeps whatever was used within the grace period', async () => {
    const { store, keeper, cids, clock, removed } = await setup(10 * 60_000)
    await keeper.enforce()
    expect(removed).toEqual([]) // all three used within 10 minutes
    clock.t += 8 * 60_000 // a is 11 minutes old now, b 10, c 9
    await keeper.enforce()
    expect(removed).toEqual([cids[0]])
    expect(await listed(store)).toEqual([cids[1], cids[2]].sort())
  })

  it('keeps what is pinned and what is being pulled or copied out, whatever the bound', async () => {
    const { store, keeper, cids: [a, b, c], pinned, removed } = await setup(0, 0)
    pinned.add(b)
    let insideRemoved: string[] = []
    await keeper.using(a, async () => {
      await keeper.enforce()
      insideRemoved = [...removed]
    })
    expect(insideRemoved).toEqual([c])
    expect(await listed(store)).toEqual([a, b].sort())
  })
})

describe('a daemon with --cache-max', () => {
  const { dir, track } = perTest()

  it('keeps its cache under the bound across pulls; the front-end keeps what it added', async () => {
    const root = await dir('imgp2p-cachemax-')
    const origin = track(await startNode(join(root, 'origin'), { cacheMaxBytes: MiB, cacheGraceMs: 0 }))
    const told: string[] = []
    // Removals reach the operator's log without --verbose (`notice`, not `log`).
    const host = track(await startNode(join(root, 'host'), { peers: [addrOf(origin)], cacheMaxBytes: 3 * MiB, cacheGraceMs: 0, notice: (m) => { told.push(m) } }))
    const files = ['one', 'two', 'three'].map(n => join(root, `${n}.raw`))
    const cids: string[] = []
    for (const f of files) {
      await writeFile(f, randomBytes(2 * MiB))
      cids.push((await origin.add(f)).cid)
    }
    for (const [i, cid] of cids.entries()) {
      const out = join(root, `vm${i}.raw`)
      await host.pull(cid, { out, timeoutMs: 30_000 })
      expect(await sha256File(out)).toBe(await sha256File(files[i]))
      // Removal follows the pull: wait for the pass it started.
      await waitFor(async () => (await host.list()).length === 1 && (await host.status()).cache?.bytes === 2 * MiB, 10_000, 'the cache pass after a pull')
      expect((await host.list()).map(x => x.cid)).toEqual([cid])
    }
    expect((await host.status()).cache).toEqual({ bytes: 2 * MiB, maxBytes: 3 * MiB })
    expect(told.filter(m => m.startsWith('cache: removed')).map(m => m.split(' ')[2])).toEqual(cids.slice(0, 2))
    // Over its own bound, the front-end removed nothing it added.
    expect((await origin.list()).map(x => x.cid).sort()).toEqual([...cids].sort())
    // Restarted, the front-end still knows what it added: nothing of it goes.
    const listen = addrOf(origin).replace(/\/p2p\/.*$/, '')
    await origin.stop()
    const again = track(await startNode(join(root, 'origin'), { cacheMaxBytes: MiB, cacheGraceMs: 0, listen: [listen] }))
    await new Promise(resolve => setTimeout(resolve, 300)) // the pass at start
    expect((await again.status()).cache?.bytes).toBe(6 * MiB)
    expect((await again.list()).map(x => x.cid).sort()).toEqual([...cids].sort())
    // An image removed here is pulled again like any other.
    await host.pull(cids[0], { out: join(root, 'again.raw'), timeoutMs: 30_000 })
    expect(await sha256File(join(root, 'again.raw'))).toBe(await sha256File(files[0]))
  })
})

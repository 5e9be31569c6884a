/**
 * Manifests of announced images are fetched ahead of any pull
 * (src/node/manifest-prefetch.ts): the pull skips its manifest search, and
 * nothing appears in the cache until something is pulled.
 */
import type { CID } from 'multiformats/cid'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { chunkCid } from '../src/chunking/cid.js'
import type { Holder } from '../src/node/announcer.js'
import { ManifestPrefetch } from '../src/node/manifest-prefetch.js'
import type { Imgp2pNode, PullProgress } from '../src/node/node.js'
import { seededRng } from '../src/policy/index.js'
import { addrOf, sha256File, startNode, tempDir, waitFor, writeImage } from './helpers.js'

const MiB = 1024 * 1024
let cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
  cleanups = []
})

async function swarm (prefetchManifests: boolean): Promise<{ dir: string, origin: Imgp2pNode, host: Imgp2pNode, cid: string, want: string }> {
  const t = await tempDir()
  cleanups.push(t.cleanup)
  const dir = t.path
  const image = join(dir, 'image.raw')
  await writeImage(image, 2 * MiB)
  const origin = await startNode(join(dir, 'origin'))
  cleanups.push(async () => { await origin.stop() })
  const host = await startNode(join(dir, 'h1'), { peers: [addrOf(origin)], prefetchManifests })
  cleanups.push(async () => { await host.stop() })
  await waitFor(() => host.host.getPeers().length > 0, 10_000, 'host to connect')
  // Added once the host listens to gossip, as a front-end adds an image for running hosts.
  const { cid } = await origin.add(image, { chunkSize: 128 * 1024 })
  return { dir, origin, host, cid, want: await sha256File(image) }
}

async function pullPhases (host: Imgp2pNode, cid: string, out: string): Promise<Array<PullProgress['phase']>> {
  const phases: Array<PullProgress['phase']> = []
  await host.pull(cid, { out, timeoutMs: 20_000, onProgress: (p) => { phases.push(p.phase) } })
  return phases
}

describe('manifest prefetch', () => {
  it('fetches an announced manifest before the pull, which then goes straight to the chunks', async () => {
    const { dir, origin, host, cid, want } = await swarm(true)
    // The origin counts manifest bytes it served: the host asked without being told to pull.
    await waitFor(async () => (await origin.status()).bytesSent > 0, 15_000, 'the host to prefetch the manifest')
    expect(await host.store.list()).toEqual([])
    const phases = await pullPhases(host, cid, join(dir, 'out.raw'))
    expect(phases).not.toContain('manifest')
    expect(await sha256File(join(dir, 'out.raw'))).toBe(want)
    expect((await host.store.list()).map(i => i.cid)).toEqual([cid])
  })

  it('without it, the pull first searches for the manifest', async () => {
    const { dir, host, cid, want } = await swarm(false)
    await new Promise(resolve => setTimeout(resolve, 2000))
    const phases = await pullPhases(host, cid, join(dir, 'out.raw'))
    expect(phases).toContain('manifest')
    expect(await sha256File(join(dir, 'out.raw'))).toBe(want)
  })
})

describe('manifest prefetch bookkeeping', () => {
  const holder = (peer: string, complete = true): Holder => ({ peer, complete, haveCount: complete ? -1 : 1, addrs: [], seenAt: 0 })
  const cidOf = async (i: number): Promise<CID> => chunkCid(Uint8Array.of(i))
  const settle = async (): Promise<void> => { await new Promise(resolve => setTimeout(resolve, 5)) }

  function prefetcher (sizes: Map<string, number>, opts: { budgetBytes?: number, known?: Set<string>, fail?: Set<string> } = {}) {
    let clock = 0
    const calls: string[] = []
    const p = new ManifestPrefetch({
      fetch: async (cid, _holder, maxBytes) => {
        calls.push(cid.toString())
        if (opts.fail?.has(cid.toString()) === true) throw new Error('unreachable')
        const n = sizes.get(cid.toString()) ?? 10
        if (n > maxBytes) throw new Error(`over ${maxBytes}`)
        return new Uint8Array(n)
      },
      selfId: 'me',
      rng: seededRng(1),
      known: (cid) => opts.known?.has(cid) === true,
      budgetBytes: opts.budgetBytes,
      jitterMs: 0,
      now: () => clock,
      log: () => {}
    })
    return { p, calls, tick: (ms: number) => { clock += ms } }
  }

  it('fetches an image once however often it is announced, and hands it over once', async () => {
    const a = await cidOf(1)
    const { p, calls } = prefetcher(new Map())
    for (let i = 0; i < 3; i++) { p.onHolder(a, holder('fe')); await settle() }
    expect(calls).toEqual([a.toString()])
    expect(p.take(a)?.length).toBe(10)
    expect(p.take(a)).toBeUndefined()
    p.onHolder(a, holder('h2'))
    await settle()
    expect(calls).toHaveLength(1)
  })

  it('skips partial holders, itself, images it knows, and manifests over the size limit', async () => {
    const [a, b, c, big] = await Promise.all([1, 2, 3, 4].map(cidOf))
    const { p, calls } = prefetcher(new Map([[big.toString(), 300 * 1024]]), { known: new Set([c.toString()]) })
    p.onHolder(a, holder('h1', false))
    p.onHolder(b, holder('me'))
    p.onHolder(c, holder('fe'))
    p.onHolder(big, holder('fe'))
    await settle()
    expect(calls).toEqual([big.toString()]) // asked, refused as too big
    expect(p.take(big)).toBeUndefined()
    expect(p.heldBytes).toBe(0)
  })

  it('drops the oldest beyond its budget and never fetches a dropped one again', async () => {
    const cids = await Promise.all([1, 2, 3].map(cidOf))
    const { p, calls, tick } = prefetcher(new Map(cids.map(c => [c.toString(), 400])), { budgetBytes: 1000 })
    for (const c of cids) { p.onHolder(c, holder('fe')); await settle() }
    expect(p.heldBytes).toBe(800)
    expect(p.take(cids[0])).toBeUndefined()
    tick(120_000)
    p.onHolder(cids[0], holder('fe')) // a steady re-announcement, long after
    await settle()
    expect(calls).toHaveLength(3)
  })

  it('asks again a minute after a failed fetch, not sooner', async () => {
    const a = await cidOf(1)
    const { p, calls, tick } = prefetcher(new Map(), { fail: new Set([a.toString()]) })
    p.onHolder(a, holder('fe'))
    await settle()
    tick(30_000)
    p.onHolder(a, holder('fe'))
    await settle()
    expect(calls).toHaveLength(1)
    tick(31_000)
    p.onHolder(a, holder('fe'))
    await settle()
    expect(calls).toHaveLength(2)
  })
})

/**
 * Manifests of announced images are fetched ahead of any pull
 * (src/node/manifest-prefetch.ts): the pull skips its manifest search, and
 * nothing appears in the cache until something is pulled.
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Imgp2pNode, PullProgress } from '../src/node/node.js'
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

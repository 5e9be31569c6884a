/**
 * Daemons given only the front-end's address connect to each other before
 * any pull, so a deployment does not open all its connections at once.
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Imgp2pNode } from '../src/node/node.js'
import { addrOf, startNode, tempDir, waitFor } from './helpers.js'

let cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
  cleanups = []
})

async function cluster (hostOpts: { neighbours?: number }): Promise<{ origin: Imgp2pNode, hosts: Imgp2pNode[] }> {
  const t = await tempDir()
  cleanups.push(t.cleanup)
  const track = (n: Imgp2pNode): Imgp2pNode => { cleanups.push(async () => { await n.stop() }); return n }
  const origin = track(await startNode(join(t.path, 'origin'), { origin: true }))
  const hosts: Imgp2pNode[] = []
  // One after another, as hosts boot: each is told only the front-end.
  for (let i = 1; i <= 4; i++) hosts.push(track(await startNode(join(t.path, `h${i}`), { peers: [addrOf(origin)], seed: i, ...hostOpts })))
  return { origin, hosts }
}

const connected = (a: Imgp2pNode, b: Imgp2pNode): boolean => a.host.getPeers().some(p => p.equals(b.host.peerId))

describe('neighbourhood', () => {
  it('connects hosts that were only given the front-end to each other', async () => {
    const { origin, hosts } = await cluster({})
    await waitFor(() => hosts.every(h => hosts.every(o => o === h || connected(h, o))), 15_000, 'a full mesh of hosts')
    for (const h of hosts) expect(connected(h, origin)).toBe(true)
  })

  it('stops at --neighbours and does nothing with 0', async () => {
    const off = await cluster({ neighbours: 0 })
    await waitFor(() => off.hosts.every(h => connected(h, off.origin)), 10_000, 'hosts to reach the front-end')
    await new Promise(resolve => setTimeout(resolve, 1500))
    for (const h of off.hosts) expect(h.host.getPeers().length).toBe(1)

    // A target of 2 other imgp2p hosts: the front-end plus one more.
    const two = await cluster({ neighbours: 2 })
    await waitFor(() => two.hosts.slice(1).every(h => h.host.getPeers().length >= 2), 15_000, 'each host to find one neighbour')
    await new Promise(resolve => setTimeout(resolve, 1500))
    // Others may dial a host (inbound is not refused), but no host dials past its target.
    const dialled = two.hosts.map(h => h.host.getConnections().filter(c => c.direction === 'outbound').length)
    for (const n of dialled) expect(n).toBeLessThanOrEqual(2)
  })
})

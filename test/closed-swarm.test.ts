/**
 * A closed swarm (--swarm-key): hosts holding the key trade as before; a
 * host with another key, or none, never gets a connection, so it neither
 * hears the swarm's images nor pulls them, and the operator is told.
 */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { SwarmKey } from '../src/node/swarm-key.js'
import type { Imgp2pNode } from '../src/node/node.js'
import { addrOf, perTest, sha256File, startNode, waitFor } from './helpers.js'

const KEY = SwarmKey.generate()

function connected (a: Imgp2pNode, b: Imgp2pNode): boolean {
  return a.host.getConnections().some(c => c.remotePeer.toString() === b.peerId && c.status === 'open')
}

describe('closed swarm', () => {
  const { dir, track } = perTest()

  it('lets key holders trade, and keeps out hosts with another key or none', async () => {
    const root = await dir('imgp2p-closed-')
    const notices: string[] = []
    const origin = track(await startNode(join(root, 'origin'), { swarmKey: KEY, notice: (m) => { notices.push(m) } }))
    const image = join(root, 'img.raw')
    await writeFile(image, randomBytes(3 * 1024 * 1024 + 17))
    const { cid } = await origin.add(image)

    const member = track(await startNode(join(root, 'member'), { swarmKey: KEY, peers: [addrOf(origin)], seed: 2 }))
    const r = await member.pull(cid, { out: join(root, 'vm.raw'), timeoutMs: 20_000 })
    expect(r.method).toBe('download')
    expect(await sha256File(join(root, 'vm.raw'))).toBe(await sha256File(image))
    expect((await origin.status()).swarm).toMatchObject({ fingerprint: KEY.fingerprint, refused: 0 })

    const stranger = track(await startNode(join(root, 'stranger'), { swarmKey: SwarmKey.generate(), peers: [addrOf(origin)], seed: 3 }))
    const open = track(await startNode(join(root, 'open'), { peers: [addrOf(origin)], seed: 4 }))
    await waitFor(async () => ((await origin.status()).swarm?.refused ?? 0) >= 2, 15_000, 'the origin refusing both outsiders')
    // The stranger's own check fails too: it refuses the origin as the origin refuses it.
    expect((await stranger.status()).swarm?.refused).toBeGreaterThanOrEqual(1)
    const refusedPeers = notices.filter(m => m.includes('refused a connection from')).map(m => m.split(' ')[5])
    expect(refusedPeers).toEqual(expect.arrayContaining([stranger.peerId, open.peerId]))
    expect(notices.every(m => m.includes(KEY.fingerprint))).toBe(true)

    for (const outsider of [stranger, open]) {
      await waitFor(() => !connected(outsider, origin), 10_000, 'the outsider to lose its connection')
      expect(connected(origin, outsider)).toBe(false)
      await expect(outsider.pull(cid, { out: join(root, `${outsider.peerId}.raw`), timeoutMs: 1500 })).rejects.toThrow()
      expect((await outsider.status()).images).toHaveLength(0)
    }
    // The members still trade.
    expect(connected(member, origin)).toBe(true)
  }, 60_000)
})

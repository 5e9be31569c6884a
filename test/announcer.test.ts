/** Image-level gossip: announcements reach other hosts, and malformed or oversized ones are rejected. */
import * as dagCbor from '@ipld/dag-cbor'
import type { Message } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { decodeAnnouncement } from '../src/node/announcer.js'
import { fastMsgIdFn } from '../src/node/host.js'
import type { Imgp2pNode } from '../src/node/node.js'
import { ANNOUNCE_TOPIC } from '../src/node/protocols.js'
import { FaultyStore, addrOf, startNode, tempDir, waitFor, writeImage } from './helpers.js'

const from = peerIdFromString('12D3KooWSuXECghDE7u3oWEWHXsg14Em7Zk3JhfhvgfXrCprSq5n')
function signed (data: Uint8Array): Message {
  return { type: 'signed', from, topic: '/imgp2p/announce/1', data, sequenceNumber: 1n, signature: new Uint8Array(), key: from.publicKey as never }
}

describe('announcements', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

  it('tell other hosts which images a host holds', async () => {
    const t = await tempDir()
    cleanups.push(t.cleanup)
    const a: Imgp2pNode = await startNode(join(t.path, 'a'))
    cleanups.push(async () => { await a.stop() })
    const b: Imgp2pNode = await startNode(join(t.path, 'b'), { peers: [addrOf(a)] })
    cleanups.push(async () => { await b.stop() })
    await writeImage(join(t.path, 'img'), 3 * 1024 * 1024)
    const { cid } = await a.add(join(t.path, 'img'))
    await waitFor(() => b.announcer.holdersOf(cid).some(h => h.peer === a.peerId && h.complete), 15_000, 'the announcement')
    const h = b.announcer.holdersOf(cid)[0]
    expect(h.addrs.map(x => x.toString())).toContain(addrOf(a).replace(/\/p2p\/.*$/, ''))
  })

  it('tell of a partial copy only once its pull has run partialNewsAfterMs; of a complete one at once', async () => {
    const t = await tempDir()
    cleanups.push(t.cleanup)
    // A slow origin disk makes the first pull last ~2 s (the second one also has the first host to fetch from).
    const origin: Imgp2pNode = await startNode(join(t.path, 'o'), { store: await FaultyStore.open(join(t.path, 'o'), { readDelayMs: 60 }) })
    cleanups.push(async () => { await origin.stop() })
    await writeImage(join(t.path, 'img'), 4 * 1024 * 1024)
    const { cid } = await origin.add(join(t.path, 'img'), { chunkSize: 128 * 1024 })
    const watcher: Imgp2pNode = await startNode(join(t.path, 'w'), { peers: [addrOf(origin)] })
    cleanups.push(async () => { await watcher.stop() })
    const seen = new Map<string, Set<string>>()
    watcher.announcer.onHolder((c, h) => { if (c === cid) seen.set(h.peer, (seen.get(h.peer) ?? new Set()).add(h.complete ? 'complete' : 'partial')) })
    for (const [name, after] of [['chatty', 300], ['quiet', 10_000]] as const) {
      const host: Imgp2pNode = await startNode(join(t.path, name), { peers: [addrOf(origin)], partialNewsAfterMs: after, announceSteadyMs: 60_000 })
      cleanups.push(async () => { await host.stop() })
      // Gossip reaches no one until the host has heard whom the topic has.
      await waitFor(() => host.host.services.pubsub.getSubscribers(ANNOUNCE_TOPIC).length > 0, 10_000, 'the host to join the gossip')
      await host.pull(cid, { timeoutMs: 20_000 })
      await waitFor(() => seen.get(host.peerId)?.has('complete') === true, 15_000, `${name}'s completion`)
      expect(seen.get(host.peerId)?.has('partial')).toBe(name === 'chatty')
    }
  })

  it('reject malformed and oversized announcements', () => {
    const ok = dagCbor.encode({ v: 1, zone: null, addrs: [], images: [] })
    expect(decodeAnnouncement(signed(ok))).toEqual({ zone: undefined, addrs: [], images: [] })
    expect(decodeAnnouncement(signed(new Uint8Array([1, 2, 3])))).toBeUndefined()
    expect(decodeAnnouncement(signed(dagCbor.encode({ v: 2, addrs: [], images: [] })))).toBeUndefined()
    expect(decodeAnnouncement(signed(dagCbor.encode({ v: 1, addrs: [], images: [{ cid: 'x', c: true, n: 1 }] })))).toBeUndefined()
    const big = dagCbor.encode({ v: 1, addrs: [], images: [], pad: new Uint8Array(70 * 1024) })
    expect(decodeAnnouncement(signed(big))).toBeUndefined()
    expect(decodeAnnouncement({ type: 'unsigned', topic: '/imgp2p/announce/1', data: ok })).toBeUndefined()
  })
})

describe('gossip seen-cache key', () => {
  it('is the signature, so a forwarded copy is recognised before its signature is checked again', () => {
    const sig = new Uint8Array(64).fill(1)
    const copy = { signature: sig.slice(), data: new Uint8Array([1, 2]), seqno: new Uint8Array([0, 1]) }
    expect(fastMsgIdFn(copy)).toBe(fastMsgIdFn({ signature: sig, data: new Uint8Array([1, 2]), seqno: new Uint8Array([0, 1]) }))
    // A forged copy (same content, another signature) gets its own key and is checked on its own.
    const forged = { ...copy, signature: new Uint8Array(64).fill(2) }
    expect(fastMsgIdFn(forged)).not.toBe(fastMsgIdFn(copy))
    // Unsigned messages (refused later by the strict policy) still get distinct keys.
    expect(fastMsgIdFn({ data: new Uint8Array([1]) })).not.toBe(fastMsgIdFn({ data: new Uint8Array([2]) }))
  })
})

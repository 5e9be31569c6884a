/** Image-level gossip: announcements reach other hosts, but not in the busiest seconds of a deployment; malformed or oversized ones are rejected. */
import * as dagCbor from '@ipld/dag-cbor'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Announcer, decodeAnnouncement } from '../src/node/announcer.js'
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

  it('tell of a partial copy only once its pull has run partialNewsAfterMs; of a complete one after completeNewsDelayMs', async () => {
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
    for (const [name, after, completeDelay] of [['chatty', 300, 100], ['quiet', 10_000, 3_000]] as const) {
      const host: Imgp2pNode = await startNode(join(t.path, name), {
        peers: [addrOf(origin)], partialNewsAfterMs: after, completeNewsDelayMs: completeDelay, announceSteadyMs: 60_000
      })
      cleanups.push(async () => { await host.stop() })
      // Gossip reaches no one until the host has heard whom the topic has.
      await waitFor(() => host.host.services.pubsub.getSubscribers(ANNOUNCE_TOPIC).length > 0, 10_000, 'the host to join the gossip')
      await host.pull(cid, { timeoutMs: 20_000 })
      const pulledAt = Date.now()
      await waitFor(() => seen.get(host.peerId)?.has('complete') === true, 15_000, `${name}'s completion`)
      // The completion is told no sooner than its delay after the pull ended (give or take the pull's last steps).
      if (completeDelay > 1000) expect(Date.now() - pulledAt).toBeGreaterThanOrEqual(completeDelay - 500)
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

/** An announcer on a pubsub that only records what it is asked to publish. */
function recordingAnnouncer (opts: { batchMs?: number, steadyMs?: number, quiet?: () => boolean } = {}): { announcer: Announcer, published: number[], deliver: (m: Message) => void } {
  const published: number[] = []
  const target = new EventTarget()
  const pubsub = {
    topicValidators: new Map(),
    addEventListener: target.addEventListener.bind(target),
    removeEventListener: target.removeEventListener.bind(target),
    subscribe: () => {},
    publish: async () => { published.push(Date.now()); return { recipients: [] } }
  } as unknown as GossipSub
  const announcer = new Announcer({ pubsub, images: () => [], addrs: () => [], ...opts })
  announcer.start()
  return { announcer, published, deliver: (m) => { target.dispatchEvent(new CustomEvent('message', { detail: m })) } }
}

describe('announcement timing', () => {
  afterEach(() => { vi.useRealTimers() })

  it('sends changes due at different times in one message, at the earliest time', () => {
    vi.useFakeTimers()
    const t0 = Date.now()
    const { announcer, published } = recordingAnnouncer({ batchMs: 1000, steadyMs: 600_000 })
    announcer.changed(10_000) // a completion: nobody waits for it
    vi.advanceTimersByTime(5_000)
    expect(published).toEqual([])
    announcer.changed() // news due within the batch time
    announcer.changed(10_000)
    vi.advanceTimersByTime(20_000)
    expect(published).toEqual([t0 + 6_000])
    // A message sent now (an image added) carries what a scheduled one would.
    announcer.changed(10_000)
    announcer.publishNow()
    vi.advanceTimersByTime(20_000)
    expect(published).toEqual([t0 + 6_000, t0 + 25_000])
    announcer.stop()
  })

  it('skips one steady round while quiet, never two in a row', () => {
    vi.useFakeTimers()
    const t0 = Date.now()
    let quiet = true
    const { announcer, published } = recordingAnnouncer({ steadyMs: 30_000, quiet: () => quiet })
    vi.advanceTimersByTime(90_000)
    expect(published).toEqual([t0 + 60_000])
    quiet = false
    vi.advanceTimersByTime(60_000)
    expect(published).toEqual([t0 + 60_000, t0 + 120_000, t0 + 150_000])
    announcer.stop()
  })

  it('counts the valid announcements it receives', () => {
    const { announcer, deliver } = recordingAnnouncer({ steadyMs: 600_000 })
    deliver({ ...signed(dagCbor.encode({ v: 1, zone: null, addrs: [], images: [] })), topic: ANNOUNCE_TOPIC })
    deliver({ ...signed(new Uint8Array([1, 2, 3])), topic: ANNOUNCE_TOPIC })
    expect(announcer.received).toBe(1)
    announcer.stop()
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

/**
 * Image-level news over gossipsub: which images a host holds (complete or
 * partly) and where to dial it. Gossip costs milliseconds of CPU per message
 * per node (STACK-FACTS.md), so news is batched and sent on change plus at a
 * slow steady interval; chunk-level availability travels on swarm streams.
 */
import * as dagCbor from '@ipld/dag-cbor'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { ANNOUNCE_TOPIC } from './protocols.js'

export interface HeldImage {
  cid: string
  complete: boolean
  haveCount: number
}

export interface Holder {
  peer: string
  complete: boolean
  haveCount: number
  zone?: string
  addrs: Multiaddr[]
  seenAt: number
}

export interface AnnouncerOptions {
  pubsub: GossipSub
  /** What we hold right now. */
  images: () => HeldImage[]
  addrs: () => Multiaddr[]
  zone?: string
  /** Coalesce bursts of changes into one message (ms). */
  batchMs?: number
  /** Re-announce everything this often (ms), for hosts that joined since. */
  steadyMs?: number
  /** While true, the steady re-announcement is skipped (nothing new to say, and the CPU is busy). */
  quiet?: () => boolean
}

const MAX_MESSAGE_BYTES = 64 * 1024
const MAX_IMAGES = 512
const MAX_ADDRS = 8

export class Announcer {
  /** cid -> peer -> holder */
  private readonly holders = new Map<string, Map<string, Holder>>()
  private batchTimer?: NodeJS.Timeout
  /** When the scheduled publish fires (ms since the epoch). */
  private batchAt = Infinity
  private steadyTimer?: NodeJS.Timeout
  private publishedAt = Date.now()
  /** Valid announcements received from other hosts. */
  received = 0
  private readonly listeners = new Set<(cid: string, holder: Holder) => void>()
  private readonly onMessage = (evt: CustomEvent<Message>): void => { this.receive(evt.detail) }

  constructor (private readonly opts: AnnouncerOptions) {}

  start (): void {
    const ps = this.opts.pubsub
    ps.topicValidators.set(ANNOUNCE_TOPIC, (_peer, msg) => decodeAnnouncement(msg) == null ? TopicValidatorResult.Reject : TopicValidatorResult.Accept)
    ps.addEventListener('message', this.onMessage)
    ps.subscribe(ANNOUNCE_TOPIC)
    const steady = this.opts.steadyMs ?? 30_000
    this.steadyTimer = setInterval(() => {
      // A quiet spell may skip one round, never two: holders expire after three (holdersOf).
      if (this.opts.quiet?.() === true && Date.now() - this.publishedAt < 1.5 * steady) return
      this.publishNow()
    }, steady)
    this.steadyTimer.unref()
  }

  stop (): void {
    clearTimeout(this.batchTimer)
    clearInterval(this.steadyTimer)
    this.opts.pubsub.removeEventListener('message', this.onMessage)
  }

  /**
   * Something we hold changed: announce within `delayMs` (default: the batch
   * time), in one message with every other change due by then.
   */
  changed (delayMs = this.opts.batchMs ?? 1000): void {
    const at = Date.now() + delayMs
    if (at >= this.batchAt) return
    clearTimeout(this.batchTimer)
    this.batchAt = at
    this.batchTimer = setTimeout(() => { this.publishNow() }, delayMs)
    this.batchTimer.unref()
  }

  /** Announce everything we hold now; a publish still scheduled would only repeat it. */
  publishNow (): void {
    clearTimeout(this.batchTimer)
    this.batchTimer = undefined
    this.batchAt = Infinity
    this.publishedAt = Date.now()
    const images = this.opts.images().slice(0, MAX_IMAGES)
    const body = dagCbor.encode({
      v: 1,
      zone: this.opts.zone ?? null,
      addrs: this.opts.addrs().slice(0, MAX_ADDRS).map(a => a.bytes),
      images: images.map(i => ({ cid: CID.parse(i.cid).bytes, c: i.complete, n: i.haveCount }))
    })
    this.opts.pubsub.publish(ANNOUNCE_TOPIC, body).catch(() => {
      // No subscribed peer yet; the steady announcement will reach later joiners.
    })
  }

  /** Known holders of an image, freshest first. */
  holdersOf (cid: string, now = Date.now()): Holder[] {
    const m = this.holders.get(cid)
    if (m == null) return []
    const maxAge = 3 * (this.opts.steadyMs ?? 30_000)
    return [...m.values()].filter(h => now - h.seenAt < maxAge).sort((a, b) => b.seenAt - a.seenAt)
  }

  onHolder (fn: (cid: string, holder: Holder) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  forgetPeer (peer: string): void {
    for (const m of this.holders.values()) m.delete(peer)
  }

  private receive (msg: Message): void {
    if (msg.topic !== ANNOUNCE_TOPIC || msg.type !== 'signed') return
    const a = decodeAnnouncement(msg)
    if (a == null) return
    this.received++
    const peer = msg.from.toString()
    const now = Date.now()
    const announced = new Set<string>()
    for (const img of a.images) {
      announced.add(img.cid)
      let m = this.holders.get(img.cid)
      if (m == null) { m = new Map(); this.holders.set(img.cid, m) }
      const h: Holder = { peer, complete: img.complete, haveCount: img.haveCount, zone: a.zone, addrs: a.addrs, seenAt: now }
      m.set(peer, h)
      for (const fn of this.listeners) fn(img.cid, h)
    }
    // An image missing from a full announcement was removed there.
    for (const [cid, m] of this.holders) if (!announced.has(cid)) m.delete(peer)
  }
}

interface Announcement {
  zone?: string
  addrs: Multiaddr[]
  images: HeldImage[]
}

/** Validate an announcement; undefined for anything malformed or oversized. */
export function decodeAnnouncement (msg: Message): Announcement | undefined {
  if (msg.type !== 'signed' || msg.data.length > MAX_MESSAGE_BYTES) return undefined
  try {
    const o = dagCbor.decode(msg.data) as Record<string, unknown>
    if (o == null || o.v !== 1 || !Array.isArray(o.images) || !Array.isArray(o.addrs)) return undefined
    if (o.images.length > MAX_IMAGES || o.addrs.length > MAX_ADDRS) return undefined
    const images: HeldImage[] = []
    for (const i of o.images as Array<Record<string, unknown>>) {
      if (!(i.cid instanceof Uint8Array) || typeof i.c !== 'boolean' || typeof i.n !== 'number') return undefined
      images.push({ cid: CID.decode(i.cid).toString(), complete: i.c, haveCount: i.n })
    }
    const addrs = (o.addrs as unknown[]).map(b => {
      if (!(b instanceof Uint8Array)) throw new Error('bad addr')
      return multiaddr(b)
    })
    const zone = typeof o.zone === 'string' ? o.zone.slice(0, 64) : undefined
    return { zone, addrs, images }
  } catch {
    return undefined
  }
}

/**
 * Opens and accepts `/imgp2p/swarm/1.0.0` streams: the HELLO handshake that
 * turns a stream into a Link of one SwarmImage, and the bookkeeping of which
 * peers are being dialled or recently lacked the image.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { MAX_CHUNK_SIZE } from '../chunking/constants.js'
import type { Imgp2pHost } from './host.js'
import { Link } from './link.js'
import { SWARM_PROTOCOL } from './protocols.js'
import type { SwarmImage } from './swarm-image.js'

/**
 * A host pulling an image trades it with at most `near` peers of its own
 * zone (or of no stated zone), and at most `far` in other zones; a
 * seed takes all comers, and an origin is always taken. Each link costs a
 * HELLO, a HAVE per chunk and a share of every tick; and with 16 upload
 * slots (policy/constants.ts) the caps, not the choker, bound how many TCP
 * flows a host runs. 16 hosts on one switch (64 MiB, 50/500 Mbit/s): CPU per
 * host 1.70-1.77 s -> 1.45-1.56 s, makespan 1.59-1.71 -> 1.48-1.56 x T_min;
 * 8 MiB: CPU 0.52 -> 0.43 s, 4.0-4.4 -> 3.33-3.71 x; 24 hosts: CPU and
 * makespan unchanged (FINDINGS.md session 6 D). A cap on all links alike more
 * than doubled the bytes crossing between two switches (1.33-1.39 -> 2.23 /
 * 2.63 x image): a zone's members must see each other to split the far
 * chunks among them (zone-partition.ts), and each needs a few far peers to
 * fetch its share from. The simulator's cluster scenarios model these caps
 * (scenarios/README.md, peers.acceptSlack).
 */
export interface LinkCaps {
  near: number
  far: number
  /**
   * Links a pulling host accepts beyond what it would open itself: a host
   * that starts its pull last finds every other one at its cap, and without
   * this slack would trade with the origin alone.
   */
  acceptSlack: number
  /** A download that verified nothing for this long dials beyond the caps (Imgp2pNode.connectCandidates)... */
  starvedMs: number
  /**
   * ...or this long before its first chunk: with 24 hosts starting at once on
   * two cores the first chunk comes 2-5 s in, which is start-up, not starvation.
   */
  starvedFirstMs: number
}

export const DEFAULT_LINK_CAPS: LinkCaps = { near: 10, far: 4, acceptSlack: 4, starvedMs: 5000, starvedFirstMs: 10_000 }

/** Why a link is opened, which decides what may stop it. */
export interface OpenReason {
  /** Fresh news of the peer (an announcement, peer exchange): ask again even if it lacked the image lately. */
  news?: boolean
  /** The peer announced a complete copy. */
  holder?: boolean
  /** Our download is starving: no cap applies. */
  anyCap?: boolean
}
const DIAL_TIMEOUT_MS = 10_000
/** A peer that lacked the image or could not be reached is asked again after this long. */
const RETRY_MISSED_MS = 10_000

export interface SwarmLinksOptions {
  host: Imgp2pHost
  selfId: string
  zone?: string
  /** The image a HELLO names, if we hold or pull it. */
  imageFor: (cid: CID) => Promise<SwarmImage | undefined>
  caps?: Partial<LinkCaps>
  log: (msg: string) => void
}

export class SwarmLinks {
  /** image key -> peers a swarm stream is being opened to. */
  private readonly opening = new Map<string, Set<string>>()
  /** image/peer -> when that peer last lacked the image or could not be reached. */
  private readonly missed = new Map<string, number>()
  /**
   * image/peer -> when we dropped that peer's link for want of room. Not even
   * news of it (it completed, say) dials it again before RETRY_MISSED_MS: with
   * 24 hosts, every completion re-dialled by every host still pulling was a
   * HELLO and a close per pair, and cost more CPU than the caps saved.
   */
  private readonly turnedAway = new Map<string, number>()
  readonly caps: LinkCaps

  constructor (private readonly opts: SwarmLinksOptions) {
    this.caps = { ...DEFAULT_LINK_CAPS, ...opts.caps }
  }

  /** A peer opened a swarm stream to us. */
  async accept (stream: Stream, conn: Connection): Promise<void> {
    const peer = conn.remotePeer.toString()
    const link = new Link(stream, peer, 'remote', Date.now(), MAX_CHUNK_SIZE)
    try {
      const hello = await link.readHello()
      const cid = CID.decode(hello.cid)
      const img = await this.opts.imageFor(cid)
      // A host still pulling trades with a bounded set of peers (LinkCaps), more
      // than it dials itself; a seed takes all comers, and a starving host is taken.
      const full = img != null && hello.starving !== true && !this.hasRoom(img, hello.zone, hello.origin, this.caps.acceptSlack)
      if (img == null || !img.trading || full) {
        link.sendHello({ cid: hello.cid, chunkCount: 0, have: null, zone: this.opts.zone ?? null, origin: false, linkBps: null })
        link.close()
        return
      }
      if (hello.chunkCount !== 0 && hello.chunkCount !== img.chunkCount) throw new Error(`peer says image has ${hello.chunkCount} chunks, manifest says ${img.chunkCount}`)
      link.setMaxPiece(img.manifest.chunkSize)
      link.sendHello(img.hello())
      img.addLink(link, Date.now())
    } catch (err) {
      this.opts.log(`swarm stream from ${peer} failed: ${(err as Error).message}`)
      link.close(err as Error)
    }
  }

  /** Whether a pulling `img` takes one more link to a peer of `zone` (a seed takes all, and anyone takes an origin). */
  private hasRoom (img: SwarmImage, zone: string | null, origin: boolean, slack = 0): boolean {
    if (img.complete || origin) return true
    const far = (z: string | null | undefined): boolean => z != null && this.opts.zone != null && z !== this.opts.zone
    let count = 0
    for (const l of img.links.values()) if (l.remoteHello?.origin !== true && far(l.remoteHello?.zone) === far(zone)) count++
    return count < (far(zone) ? this.caps.far : this.caps.near) + slack
  }

  /** Links of `img` that count against its caps (an origin's does not), and those being opened. */
  private busy (img: SwarmImage): number {
    let n = this.opening.get(img.key)?.size ?? 0
    for (const l of img.links.values()) if (l.remoteHello?.origin !== true) n++
    return n
  }

  /**
   * Open a swarm stream to `peer` about `img` (no-op if one exists or is being
   * opened, or the caps are full). A neighbour that lacked the image or could
   * not be reached is asked again only after a while, unless `why.news` says
   * something changed; one we turned away for want of room, only after a while.
   */
  async open (img: SwarmImage, peer: string, addrs: Multiaddr[] = [], why: OpenReason = {}): Promise<void> {
    const key = `${img.key}/${peer}`
    let opening = this.opening.get(img.key)
    if (peer === this.opts.selfId || img.links.has(peer) || opening?.has(peer) === true || img.banned.has(peer)) return
    // Its zone is unknown until its HELLO, so the near cap bounds all dialling;
    // a holder (a seed, or the origin, which is always kept) is worth the dial.
    if (why.anyCap !== true && why.holder !== true && this.busy(img) >= this.caps.near) return
    const awayAt = this.turnedAway.get(key)
    if (why.anyCap !== true && awayAt != null && Date.now() - awayAt < RETRY_MISSED_MS) return
    const missedAt = this.missed.get(key)
    if (why.news !== true && why.anyCap !== true && missedAt != null && Date.now() - missedAt < RETRY_MISSED_MS) return
    this.missed.delete(key)
    this.turnedAway.delete(key)
    if (opening == null) { opening = new Set(); this.opening.set(img.key, opening) }
    opening.add(peer)
    let link: Link | undefined
    try {
      const pid: PeerId = peerIdFromString(peer)
      if (addrs.length > 0) await this.opts.host.peerStore.merge(pid, { multiaddrs: addrs })
      const stream = await this.opts.host.dialProtocol(pid, SWARM_PROTOCOL, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
      link = new Link(stream, peer, 'local', Date.now(), img.manifest.chunkSize)
      const t0 = performance.now()
      link.sendHello({ ...img.hello(), starving: why.anyCap === true })
      const hello = await link.readHello()
      link.rttMs = performance.now() - t0
      if (hello.chunkCount === 0) { this.missed.set(key, Date.now()); link.close(); return }
      if (!CID.decode(hello.cid).equals(img.cid) || hello.chunkCount !== img.chunkCount) throw new Error('peer answered about another image')
      // Dialled before its zone was known: keep it only if its class has room.
      if (why.anyCap !== true && !this.hasRoom(img, hello.zone, hello.origin)) { this.turnedAway.set(key, Date.now()); link.close(); return }
      img.addLink(link, Date.now())
    } catch (err) {
      this.opts.log(`cannot trade ${img.key} with ${peer}: ${(err as Error).message}`)
      this.missed.set(key, Date.now())
      link?.close(err as Error)
    } finally {
      opening.delete(peer)
      if (opening.size === 0) this.opening.delete(img.key)
    }
  }
}

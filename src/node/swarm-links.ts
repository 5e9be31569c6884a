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

/** Trade an image with at most this many peers at once (BitTorrent clients use 30-80). */
const MAX_LINKS_PER_IMAGE = 40
const DIAL_TIMEOUT_MS = 10_000
/** A peer that lacked the image or could not be reached is asked again after this long. */
const RETRY_MISSED_MS = 10_000

export interface SwarmLinksOptions {
  host: Imgp2pHost
  selfId: string
  zone?: string
  /** The image a HELLO names, if we hold or pull it. */
  imageFor: (cid: CID) => Promise<SwarmImage | undefined>
  log: (msg: string) => void
}

export class SwarmLinks {
  private readonly opening = new Set<string>()
  /** image/peer -> when that peer last lacked the image or could not be reached. */
  private readonly missed = new Map<string, number>()

  constructor (private readonly opts: SwarmLinksOptions) {}

  /** A peer opened a swarm stream to us. */
  async accept (stream: Stream, conn: Connection): Promise<void> {
    const peer = conn.remotePeer.toString()
    const link = new Link(stream, peer, 'remote', Date.now(), MAX_CHUNK_SIZE)
    try {
      const hello = await link.readHello()
      const cid = CID.decode(hello.cid)
      const img = await this.opts.imageFor(cid)
      if (img == null || (!img.complete && !img.downloading)) {
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

  /**
   * Open a swarm stream to `peer` about `img` (no-op if one exists or is being
   * opened). A neighbour that lacked the image or could not be reached is
   * asked again only after a while, unless it has since `announced` the image.
   */
  async open (img: SwarmImage, peer: string, addrs: Multiaddr[] = [], announced = false): Promise<void> {
    const key = `${img.key}/${peer}`
    if (peer === this.opts.selfId || img.links.has(peer) || this.opening.has(key) || img.banned.has(peer)) return
    if (img.links.size >= MAX_LINKS_PER_IMAGE) return
    const missedAt = this.missed.get(key)
    if (!announced && missedAt != null && Date.now() - missedAt < RETRY_MISSED_MS) return
    this.missed.delete(key)
    this.opening.add(key)
    let link: Link | undefined
    try {
      const pid: PeerId = peerIdFromString(peer)
      if (addrs.length > 0) await this.opts.host.peerStore.merge(pid, { multiaddrs: addrs })
      const stream = await this.opts.host.dialProtocol(pid, SWARM_PROTOCOL, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
      link = new Link(stream, peer, 'local', Date.now(), img.manifest.chunkSize)
      const t0 = performance.now()
      link.sendHello(img.hello())
      const hello = await link.readHello()
      link.rttMs = performance.now() - t0
      if (hello.chunkCount === 0) { this.missed.set(key, Date.now()); link.close(); return }
      if (!CID.decode(hello.cid).equals(img.cid) || hello.chunkCount !== img.chunkCount) throw new Error('peer answered about another image')
      img.addLink(link, Date.now())
    } catch (err) {
      this.opts.log(`cannot trade ${img.key} with ${peer}: ${(err as Error).message}`)
      this.missed.set(key, Date.now())
      link?.close(err as Error)
    } finally {
      this.opening.delete(key)
    }
  }
}

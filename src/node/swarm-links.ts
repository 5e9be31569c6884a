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
 * A host pulling an image trades it with at most this many peers (BitTorrent
 * clients use 30-80); a seed takes all comers. Each link costs a HELLO, a HAVE
 * per chunk and a share of every tick. Simulator, 72 hosts, two switches,
 * 9.77 GB (`imgp2p simulate --peers K`): 40 links 1.035 x T_min with 1.25
 * images across the switches, 24 1.032 x / 1.26, 16 1.035 x / 1.43. In the
 * 24-host cluster 16 links cut each daemon's CPU by ~10 % and the makespan
 * from 2.62 to 2.40 x (one run each), but 24 keeps the zones' traffic down.
 */
const MAX_LINKS_PER_IMAGE = 24
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
  /** image key -> peers a swarm stream is being opened to. */
  private readonly opening = new Map<string, Set<string>>()
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
      // A host still pulling trades with a bounded set of peers: every link costs
      // it HELLOs, a HAVE per chunk and a share of each tick. A seed takes all comers.
      const full = img != null && !img.complete && img.links.size >= MAX_LINKS_PER_IMAGE
      if (img == null || (!img.complete && !img.downloading) || full) {
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
    let opening = this.opening.get(img.key)
    if (peer === this.opts.selfId || img.links.has(peer) || opening?.has(peer) === true || img.banned.has(peer)) return
    if (img.links.size + (opening?.size ?? 0) >= MAX_LINKS_PER_IMAGE) return
    const missedAt = this.missed.get(key)
    if (!announced && missedAt != null && Date.now() - missedAt < RETRY_MISSED_MS) return
    this.missed.delete(key)
    if (opening == null) { opening = new Set(); this.opening.set(img.key, opening) }
    opening.add(peer)
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
      opening.delete(peer)
      if (opening.size === 0) this.opening.delete(img.key)
    }
  }
}

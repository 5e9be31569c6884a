/**
 * Everything one host does for one image: the links to peers trading it,
 * serving chunks to unchoked peers, and, while the image is incomplete here,
 * the download driven by the swarm policy.
 *
 * I/O results are applied to the policy synchronously as events, then the
 * policy is asked what to do; no await sits inside a state transition.
 */
import type { CID } from 'multiformats/cid'
import type { PartialImage, ImageStore } from '../cache/types.js'
import { type Manifest, chunkCount, isZeroChunk } from '../chunking/manifest.js'
import { ChunkHashMismatchError } from '../errors.js'
import { createChoker, createDownloadPolicy, createOriginChoker, createOriginPolicy } from '../policy/index.js'
import type { ChokerConfig, DownloadPolicy, OriginConfig, OriginPolicy, PeerMeta, Rng } from '../policy/types.js'
import { Bitfield } from '../util/bitfield.js'
import type { Link } from './link.js'
import { Uploader } from './uploader.js'
import { PeerExchange } from './peer-exchange.js'
import { MsgType, type Hello, type PexEntry, type WireMessage } from './wire.js'

export interface SwarmImageOptions {
  cid: CID
  manifest: Manifest
  store: ImageStore
  selfId: string
  zone?: string
  /** Serve in origin mode (the front-end): reveal chunks so each leaves us about once. */
  origin: boolean
  complete: boolean
  /** Our link rate in bits/s as the operator stated it: told to peers, and the origin's upload. */
  linkBps?: number
  rng: Rng
  choker?: Partial<ChokerConfig>
  /** Overrides of the origin policy's defaults (origin mode only). */
  originPolicy?: Partial<OriginConfig>
  /** When a pull first announces its partial copy (default PARTIAL_NEWS_AFTER_MS). */
  partialNewsAfterMs?: number
  /** Something we hold changed in a way the rest of the network should hear (gossip). */
  onHeldChanged: () => void
  /** Dialable addresses of a peer, for peer exchange (empty if unknown). */
  addrsOf: (peer: string) => Uint8Array[]
  /** A trading partner told us of other peers trading this image. */
  onPeersLearned: (peers: PexEntry[]) => void
  log: (msg: string) => void
}

export interface DownloadProgress {
  have: number
  total: number
  bytes: number
  peers: number
}

interface Download {
  policy: DownloadPolicy
  partial: PartialImage
  /** Chunks between arrival and verified write. */
  writing: Set<number>
  bytes: number
  startedAt: number
  lastProgressAt: number
  /** The feeder last written to the log. */
  loggedFeeder?: string
  /** Our partial copy was announced (PARTIAL_NEWS_AFTER_MS). */
  announcedPartial?: boolean
  finished: boolean
  /** Settles with the verified bytes this download fetched. */
  resolve: (bytes: number) => void
  reject: (err: Error) => void
  error?: Error
  onChunk?: (index: number) => void
}

/**
 * A pull tells the network (gossip) that it holds part of the image only
 * once it has run this long; its completion is told at once. Its partners
 * know from HAVEs, the hosts it meets from its links and peer exchange, and
 * everyone from the steady announcement. Each gossip message costs every node
 * a few ms (STACK-FACTS.md), and at 24 hosts pulling 8 MiB an announcement at
 * each host's first chunk took each daemon from 0.38-0.45 to 0.80-0.82 s of
 * CPU, and the makespan from 4.2-4.8 to 7.8-8.6 x (FINDINGS.md session 8 J).
 * A pull that lasts gets its partial copy known to hosts that join later.
 */
export const PARTIAL_NEWS_AFTER_MS = 10_000

export class SwarmImage {
  readonly cid: CID
  readonly key: string
  readonly manifest: Manifest
  readonly chunkCount: number
  readonly links = new Map<string, Link>()
  complete: boolean
  /** Chunks that failed verification, from any peer. */
  corruptChunks = 0
  /** PIECE payload received, duplicates and corrupt ones included. */
  downloadedBytes = 0
  /** Of it, from peers of another zone (what crossed a zone boundary). */
  crossZoneBytes = 0
  /** Peers that sent corrupt data too often: never again, for this image. */
  readonly banned = new Set<string>()

  private readonly uploader: Uploader
  private download?: Download
  private readonly remoteHave = new Map<string, Bitfield>()
  private fullHeld?: Bitfield
  private zeroHeld?: Bitfield
  private pumpScheduled = false
  private readonly pex: PeerExchange

  constructor (private readonly opts: SwarmImageOptions) {
    this.cid = opts.cid
    this.key = opts.cid.toString()
    this.manifest = opts.manifest
    this.chunkCount = chunkCount(opts.manifest)
    this.complete = opts.complete
    this.pex = new PeerExchange(this.links, opts.addrsOf)
    const origin = opts.origin && opts.complete
    this.uploader = new Uploader({
      cid: opts.cid,
      store: opts.store,
      choker: origin ? createOriginChoker(opts.choker) : createChoker(opts.choker, { zone: opts.zone, rng: opts.rng }),
      origin: origin
        ? createOriginPolicy({ chunkCount: this.chunkCount, zone: opts.zone, rng: opts.rng, uplinkBps: opts.linkBps, config: opts.originPolicy })
        : undefined,
      held: () => this.held(),
      seeding: () => this.complete,
      haveCountOf: (peer) => this.remoteHave.get(peer)?.count ?? 0,
      links: this.links,
      log: opts.log
    })
  }

  get uploadedBytes (): number { return this.uploader.uploadedBytes }

  private get origin (): OriginPolicy | undefined { return this.uploader.origin }

  get downloading (): boolean { return this.download != null && !this.download.finished }

  /**
   * A pull is opening its files: links are made meanwhile (peers take us as
   * a puller), and startDownload tells them what the files turned out to hold.
   */
  preparing = false

  /** Local holdings as a bitfield. */
  held (): Bitfield {
    if (this.complete) {
      // Asked on every REQUEST served: build the full bitfield once.
      this.fullHeld ??= Bitfield.full(this.chunkCount)
      return this.fullHeld
    }
    return this.download?.partial.have ?? this.zeroChunks()
  }

  /** All-zero chunks, which every holder of the manifest has: what a pull shows before its files are open. */
  private zeroChunks (): Bitfield {
    if (this.zeroHeld == null) {
      this.zeroHeld = new Bitfield(this.chunkCount)
      for (let i = 0; i < this.chunkCount; i++) if (isZeroChunk(this.manifest, i)) this.zeroHeld.set(i)
    }
    return this.zeroHeld
  }

  heldCount (): number { return this.complete ? this.chunkCount : (this.download?.partial.have.count ?? 0) }

  /** Our HELLO for this image. */
  hello (): Hello {
    const origin = this.origin != null
    return {
      cid: this.cid.bytes,
      chunkCount: this.chunkCount,
      // In origin mode chunks are revealed one HAVE at a time instead.
      have: origin ? null : this.held().bytes,
      zone: this.opts.zone ?? null,
      origin,
      linkBps: this.opts.linkBps ?? null
    }
  }

  /**
   * What the policies know of a peer. An origin that offered full service is
   * traded with like any peer until it says LAST_RESORT.
   */
  private metaOf (link: Link): PeerMeta {
    const hello = link.remoteHello
    return {
      zone: hello?.zone ?? undefined,
      rttMs: link.rttMs,
      origin: (hello?.origin ?? false) && !link.fullServiceReceived,
      fullService: (hello?.origin ?? false) && link.fullServiceReceived,
      linkBps: hello?.linkBps ?? undefined
    }
  }

  /**
   * Register a link whose HELLOs are exchanged. When two streams cross (both
   * peers dialled), both sides keep the one opened by the lower peer id.
   * Returns false when `link` lost and was closed.
   */
  addLink (link: Link, now: number): boolean {
    if (this.banned.has(link.peer)) { link.close(); return false }
    const existing = this.links.get(link.peer)
    if (existing != null && !existing.closed) {
      const opener = (l: Link): string => l.initiator === 'local' ? this.opts.selfId : l.peer
      // Two streams crossed: both sides keep the one the lower peer id opened.
      // Opened by the same side: the new one replaces a stale one.
      const keepNew = opener(link) <= opener(existing)
      if (!keepNew) { link.close(); return false }
      // Only crossing streams carry the same peer's live state; a stale link's
      // HAVEs may describe an image the peer has since removed.
      const crossing = opener(link) !== opener(existing)
      this.detach(existing, now, crossing)
      existing.close()
    }
    this.links.set(link.peer, link)
    const hello = link.remoteHello
    const meta = this.metaOf(link)
    this.origin?.addPeer(link.peer, meta)
    const known = this.knownHave(link.peer)
    if (hello?.have != null && hello.have.length === known.bytes.length) {
      for (const i of new Bitfield(this.chunkCount, hello.have).indexes()) known.set(i)
    }
    const dl = this.download
    if (dl != null && !dl.finished) {
      dl.policy.addPeer(link.peer, meta, now)
      if (known.count > 0) dl.policy.onBitfield(link.peer, known)
    }
    if (this.origin != null) for (const i of known.indexes()) this.origin.onPeerHave(link.peer, i)
    link.attach({
      onMessage: (l, m) => { this.onMessage(l, m) },
      onClose: (l) => { this.detach(l, Date.now()) }
    })
    this.catchUpHaves(link)
    this.updateInterest(link)
    this.uploader.addLink(link, now)
    this.opts.log(`${this.key.slice(-8)}: link ${link.peer.slice(-6)} up (${link.initiator}), ${this.links.size} links`)
    this.pex.schedule()
    this.schedulePump()
    return true
  }

  /**
   * What a peer holds, as far as its HELLOs and HAVEs told us. Kept per peer,
   * not per link: when two crossing streams are resolved, HAVEs that came on
   * the closed one are not sent again on the survivor.
   */
  private knownHave (peer: string): Bitfield {
    let bf = this.remoteHave.get(peer)
    if (bf == null) { bf = new Bitfield(this.chunkCount); this.remoteHave.set(peer, bf) }
    return bf
  }

  /**
   * Chunks we gained between sending this link's HELLO and registering it
   * were announced only on the links registered then; send them now, or the
   * peer never learns we hold them.
   */
  private catchUpHaves (link: Link): void {
    if (this.origin != null || link.helloHave == null) return
    const told = new Bitfield(this.chunkCount, link.helloHave)
    const held = this.held()
    for (const i of held.indexes()) if (!told.has(i)) link.have(i)
  }

  private detach (link: Link, now: number, keepKnown = false): void {
    if (this.links.get(link.peer) !== link) return
    this.links.delete(link.peer)
    this.opts.log(`${this.key.slice(-8)}: link ${link.peer.slice(-6)} down, ${this.links.size} links`)
    if (!keepKnown) this.remoteHave.delete(link.peer)
    this.uploader.removeLink(link)
    this.download?.policy.removePeer(link.peer, now)
    this.schedulePump()
  }

  private onMessage (link: Link, m: WireMessage): void {
    const now = Date.now()
    const dl = this.download != null && !this.download.finished ? this.download : undefined
    switch (m.type) {
      case MsgType.Have:
        if (m.index >= this.chunkCount) { link.close(new Error(`HAVE for chunk ${m.index} of ${this.chunkCount}`)); return }
        this.knownHave(link.peer).set(m.index)
        dl?.policy.onHave(link.peer, m.index)
        this.origin?.onPeerHave(link.peer, m.index)
        if (dl != null && !link.amInterested && dl.policy.isInterested(link.peer)) link.interested(true)
        break
      case MsgType.Choke:
        link.peerChoking = true
        dl?.policy.onChoke(link.peer, true, now)
        break
      case MsgType.Unchoke:
        link.peerChoking = false
        dl?.policy.onChoke(link.peer, false, now)
        break
      case MsgType.Interested:
        link.peerInterested = true
        this.uploader.onInterested(link)
        break
      case MsgType.NotInterested:
        link.peerInterested = false
        break
      case MsgType.Request:
        if (m.index >= this.chunkCount) { link.close(new Error(`REQUEST for chunk ${m.index} of ${this.chunkCount}`)); return }
        this.uploader.onRequest(link, m.index)
        return
      case MsgType.Cancel:
        this.uploader.onCancel(link, m.index)
        return
      case MsgType.Reject:
        dl?.policy.onRejected(link.peer, m.index, now)
        break
      case MsgType.Piece:
        this.onPiece(link, m.index, m.data, m.length)
        return
      case MsgType.Hello:
        link.close(new Error('second HELLO on one stream'))
        return
      case MsgType.FullService:
      case MsgType.LastResort:
        if (link.remoteHello?.origin !== true) break
        link.fullServiceReceived = m.type === MsgType.FullService
        dl?.policy.updatePeer(link.peer, this.metaOf(link))
        break
      case MsgType.Peers:
        if (this.downloading) this.opts.onPeersLearned(m.peers.filter(p => p.id !== this.opts.selfId && !this.links.has(p.id)))
        return
    }
    this.schedulePump()
  }

  // ---- downloading ----

  /** Pull the missing chunks into `partial`. Resolves, with the verified bytes fetched, once the image is complete and finished on disk. */
  startDownload (partial: PartialImage, onChunk?: (index: number) => void): Promise<number> {
    if (this.download != null && !this.download.finished) throw new Error(`already downloading ${this.key}`)
    return new Promise<number>((resolve, reject) => {
      const now = Date.now()
      const policy = createDownloadPolicy({
        chunkCount: this.chunkCount,
        chunkBytes: this.manifest.chunkSize,
        have: partial.have.clone(),
        zone: this.opts.zone,
        self: this.opts.selfId,
        rng: this.opts.rng,
        // Our peers start by choking us and say UNCHOKE on the wire.
        config: { peersStartChoked: true, downlinkBps: this.opts.linkBps ?? 0 }
      })
      this.download = { policy, partial, writing: new Set(), bytes: 0, startedAt: now, lastProgressAt: now, finished: false, resolve, reject, onChunk }
      this.preparing = false
      for (const l of this.links.values()) {
        this.catchUpHaves(l) // a resumed pull holds chunks its HELLOs did not show
        policy.addPeer(l.peer, this.metaOf(l), now)
        const known = this.knownHave(l.peer)
        if (known.count > 0) policy.onBitfield(l.peer, known)
        if (!l.peerChoking) policy.onChoke(l.peer, false, now)
        this.updateInterest(l)
      }
      this.maybeFinish()
      this.schedulePump()
    })
  }

  /** Abandon the download (kept on disk for a resume). */
  stopDownload (err: Error): void {
    const dl = this.download
    if (dl == null || dl.finished) return
    dl.finished = true
    dl.error = err
    for (const r of dl.policy.outstanding()) this.links.get(r.peer)?.cancel(r.chunk)
    this.download = undefined
    dl.partial.close().catch(() => {}).finally(() => { dl.reject(err) })
  }

  progress (): DownloadProgress {
    return {
      have: this.heldCount(),
      total: this.chunkCount,
      bytes: this.download?.bytes ?? 0,
      peers: this.links.size
    }
  }

  /** Ms since the download last verified a chunk (for stall timeouts). */
  idleFor (now: number): number {
    return this.download == null ? 0 : now - this.download.lastProgressAt
  }

  private onPiece (link: Link, index: number, data: Uint8Array[], length: number): void {
    const dl = this.download
    this.downloadedBytes += length
    const theirZone = link.remoteHello?.zone
    if (this.opts.zone != null && theirZone != null && theirZone !== this.opts.zone) this.crossZoneBytes += length
    if (dl == null || dl.finished || index >= this.chunkCount) return
    if (dl.partial.have.has(index) || dl.writing.has(index)) return // an end-game duplicate
    dl.writing.add(index)
    dl.partial.writeChunk(index, data).then(() => {
      dl.writing.delete(index)
      if (dl.finished) return
      const now = Date.now()
      // The first chunk this download fetched: all-zero chunks are held from the start, so no count says it.
      const first = dl.bytes === 0
      dl.bytes += length
      dl.lastProgressAt = now
      for (const c of dl.policy.onReceived(link.peer, index, length, now)) this.links.get(c.peer)?.cancel(c.chunk)
      for (const l of this.links.values()) {
        // A peer that holds the chunk gains nothing from the HAVE; with every
        // host trading with every other, these messages grow with N squared.
        // The origin is always told: its reveals follow where chunks are.
        if (l.remoteHello?.origin === true || !this.knownHave(l.peer).has(index)) l.have(index)
      }
      dl.onChunk?.(index)
      const last = dl.partial.have.complete
      if (first || last) this.opts.log(`${this.key.slice(-8)}: ${first ? 'first' : 'last'} chunk from ${link.peer.slice(-6)}, ${dl.partial.have.count} of ${this.chunkCount} held, ${now - dl.startedAt} ms into the download`)
      if (last) this.opts.onHeldChanged()
      this.maybeFinish()
      this.schedulePump()
    }, (err: Error) => {
      dl.writing.delete(index)
      if (dl.finished) return
      const now = Date.now()
      if (err instanceof ChunkHashMismatchError) {
        this.corruptChunks++
        this.opts.log(`chunk ${index} from ${link.peer} failed verification`)
        const { drop } = dl.policy.onCorrupt(link.peer, index, now)
        if (drop) {
          this.banned.add(link.peer)
          link.close(new Error('sent corrupt chunks'))
        }
        this.schedulePump()
      } else {
        this.stopDownload(err)
      }
    })
  }

  private maybeFinish (): void {
    const dl = this.download
    if (dl == null || dl.finished || dl.writing.size > 0 || !dl.partial.have.complete) return
    dl.finished = true
    dl.partial.finish().then(() => {
      this.complete = true
      this.download = undefined
      // A finished host tells its trading partners nothing new chunk-wise, but may lose interest in all.
      for (const l of this.links.values()) l.interested(false)
      this.opts.onHeldChanged()
      dl.resolve(dl.bytes)
    }, (err: Error) => {
      this.download = undefined
      dl.reject(err)
    })
  }

  private updateInterest (link: Link): void {
    const dl = this.download
    if (dl == null || dl.finished) { link.interested(false); return }
    link.interested(dl.policy.isInterested(link.peer))
  }

  private schedulePump (): void {
    if (this.pumpScheduled) return
    this.pumpScheduled = true
    queueMicrotask(() => {
      this.pumpScheduled = false
      this.pump(Date.now())
    })
  }

  /** Ask the policy for requests and send them. */
  private pump (now: number): void {
    const dl = this.download
    if (dl == null || dl.finished) return
    for (const r of dl.policy.pick(now)) {
      const l = this.links.get(r.peer)
      if (l == null) { dl.policy.onRejected(r.peer, r.chunk, now); continue }
      l.request(r.chunk)
    }
  }

  /** Timer work: expire slow requests, refresh interest, rechoke, reveal. */
  tick (now: number): void {
    const dl = this.download
    if (dl != null && !dl.finished) {
      for (const r of dl.policy.expire(now)) this.links.get(r.peer)?.cancel(r.chunk)
      if (!dl.announcedPartial && dl.bytes > 0 && now - dl.startedAt >= (this.opts.partialNewsAfterMs ?? PARTIAL_NEWS_AFTER_MS)) {
        dl.announcedPartial = true
        this.opts.onHeldChanged()
      }
      if (dl.policy.feederPeer !== dl.loggedFeeder) {
        dl.loggedFeeder = dl.policy.feederPeer
        this.opts.log(`${this.key.slice(-8)}: ${dl.loggedFeeder == null ? 'no feeder' : `fed by ${dl.loggedFeeder.slice(-6)} alone`}, ${dl.partial.have.count} of ${this.chunkCount} chunks, ${now - dl.startedAt} ms into the download`)
      }
      for (const l of this.links.values()) this.updateInterest(l)
      this.pump(now)
    }
    for (const l of this.links.values()) { l.downloaded.sample(now); l.uploaded.sample(now) }
    this.uploader.tick(now)
  }

  close (): void {
    this.pex.close()
    this.stopDownload(new Error('node stopping'))
    for (const l of this.links.values()) l.close()
    this.links.clear()
  }
}

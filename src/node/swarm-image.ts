/**
 * Everything one host does for one image: the links to peers trading it,
 * what each peer holds, serving chunks to unchoked peers (uploader.ts), and,
 * while the image is incomplete here, the download driven by the swarm
 * policy (image-download.ts).
 *
 * I/O results are applied to the policy synchronously as events, then the
 * policy is asked what to do; no await sits inside a state transition.
 */
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { FrameRing } from '../cache/frame-ring.js'
import type { PartialImage, ImageStore } from '../cache/types.js'
import { type Manifest, chunkCount, markZeroChunks } from '../chunking/manifest.js'
import { createChoker, createDownloadPolicy, createOriginChoker, createOriginPolicy } from '../policy/index.js'
import type { ChokerConfig, DuplicateCounts, OriginConfig, OriginPolicy, Rng } from '../policy/types.js'
import { Bitfield } from '../util/bitfield.js'
import { ChunkCompressor, FRAME_RING_BYTES } from './chunk-compressor.js'
import { type DownloadContext, type HeldNews, ImageDownload, PARTIAL_NEWS_AFTER_MS } from './image-download.js'
import type { Link } from './link.js'
import { type DownloadCap, type UploadCap, cappedBps } from './rate-pacer.js'
import { Uploader } from './uploader.js'
import { PeerExchange } from './peer-exchange.js'
import { PeerHoldings, resolveSecondLink } from './peer-holdings.js'
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
  /** The host's upload cap (rate-pacer.ts); absent: none. */
  upload?: UploadCap
  /** The host's download cap (rate-pacer.ts); absent: none. */
  download?: DownloadCap
  /** Take and send zstd-compressed chunks (chunk-compressor.ts); default true. */
  compress?: boolean
  /** Where compressed frames are kept to be relayed (cache/frame-ring.ts); none: compressed afresh each time. */
  frameDir?: string
  /** Whether the host's CPU has room for compressed chunks at the start (default true; setCpuRoom changes it). */
  cpuRoom?: boolean
  rng: Rng
  choker?: Partial<ChokerConfig>
  /** Overrides of the origin policy's defaults (origin mode only). */
  originPolicy?: Partial<OriginConfig>
  /** When a pull first announces its partial copy (default PARTIAL_NEWS_AFTER_MS). */
  partialNewsAfterMs?: number
  /** Something we hold changed in a way the rest of the network should hear (gossip). */
  onHeldChanged: (what: HeldNews) => void
  /** Dialable addresses of a peer, for peer exchange (empty if unknown). */
  addrsOf: (peer: string) => Uint8Array[]
  /** A trading partner told us of other peers trading this image. */
  onPeersLearned: (peers: PexEntry[]) => void
  /** A peer says chunk `index` we sent it failed its CID (DAMAGED). */
  onDamageReport?: (index: number, peer: string) => void
  log: (msg: string) => void
}

export interface DownloadProgress {
  have: number
  total: number
  bytes: number
  peers: number
}

export class SwarmImage {
  readonly cid: CID
  readonly key: string
  readonly manifest: Manifest
  readonly chunkCount: number
  readonly links = new Map<string, Link>()
  complete: boolean
  /** Chunks that failed verification, from any peer. */
  corruptChunks = 0
  /** Chunks held but damaged on disk since (a peer's DAMAGED, checked): refused to every peer. */
  readonly withheld = new Set<number>()
  /** PIECE payload received, duplicates and corrupt ones included. */
  downloadedBytes = 0
  /** Of it, from peers of another zone (what crossed a zone boundary). */
  crossZoneBytes = 0
  /** Peers that sent corrupt data too often: never again, for this image. */
  readonly banned = new Set<string>()

  private readonly uploader: Uploader
  private download?: ImageDownload
  private readonly remoteHave: PeerHoldings
  private fullHeld?: Bitfield
  private zeroHeld?: Bitfield
  /** Verified bytes the last finished download fetched: its final progress report tells them. */
  private fetchedBytes = 0
  /** The finished download's duplicate chunks (its policy is dropped on completion). */
  private fetchedTwice?: DuplicateCounts
  private readonly pex: PeerExchange
  private readonly compressor?: ChunkCompressor

  constructor (private readonly opts: SwarmImageOptions) {
    this.cid = opts.cid
    this.key = opts.cid.toString()
    this.manifest = opts.manifest
    this.chunkCount = chunkCount(opts.manifest)
    this.complete = opts.complete
    this.remoteHave = new PeerHoldings(this.chunkCount)
    this.pex = new PeerExchange(this.links, opts.addrsOf)
    const origin = opts.origin && opts.complete
    this.compressor = opts.compress !== false
      ? new ChunkCompressor(opts.frameDir == null ? undefined : new FrameRing(join(opts.frameDir, this.key), Math.min(FRAME_RING_BYTES, opts.manifest.size)), opts.cpuRoom)
      : undefined
    this.uploader = new Uploader({
      cid: opts.cid,
      store: opts.store,
      choker: origin ? createOriginChoker(opts.choker) : createChoker(opts.choker, { zone: opts.zone, rng: opts.rng }),
      origin: origin
        ? createOriginPolicy({ chunkCount: this.chunkCount, zone: opts.zone, rng: opts.rng, uplinkBps: cappedBps(opts.linkBps, opts.upload?.bitsPerSecond), config: opts.originPolicy })
        : undefined,
      held: () => this.held(),
      withheld: this.withheld,
      seeding: () => this.complete,
      haveCountOf: (peer) => this.remoteHave.countOf(peer),
      links: this.links,
      compressor: this.compressor,
      cap: opts.upload,
      log: opts.log
    })
  }

  get uploadedBytes (): number { return this.uploader.uploadedBytes }

  private get origin (): OriginPolicy | undefined { return this.uploader.origin }

  get downloading (): boolean { return this.download != null && !this.download.finished }
  /** The current or finished download's duplicate chunks, by cause. */
  duplicates (): DuplicateCounts | undefined { return this.download?.policy.duplicates() ?? this.fetchedTwice }

  /**
   * A pull is opening its files: links are made meanwhile (peers take us as
   * a puller), and startDownload tells them what the files turned out to hold.
   */
  preparing = false

  /** Whether a peer's swarm stream about this image is worth taking: we seed it, pull it, or are about to. */
  get trading (): boolean { return this.complete || this.downloading || this.preparing }

  /** Local holdings as a bitfield. */
  held (): Bitfield {
    if (this.complete) {
      // Asked on every REQUEST served: build the full bitfield once.
      this.fullHeld ??= Bitfield.full(this.chunkCount)
      return this.fullHeld
    }
    // Before its files are open a pull shows the all-zero chunks, which every holder of the manifest has.
    return this.download?.partial.have ?? (this.zeroHeld ??= markZeroChunks(this.manifest, new Bitfield(this.chunkCount)))
  }

  heldCount (): number { return this.complete ? this.chunkCount : (this.download?.partial.have.count ?? 0) }

  /**
   * The host's CPU gained or lost room for compressed chunks: take them or
   * not from now on, and say so to every peer; frames we already hold are
   * still relayed, since they cost nothing to send.
   */
  setCpuRoom (room: boolean): void {
    if (this.compressor == null) return
    this.compressor.room = room
    for (const l of this.links.values()) l.offerZstd(room)
  }

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
      // What we take, for the origin's choice of full service: the link, or the cap below it.
      linkBps: cappedBps(this.opts.linkBps, this.opts.download?.bitsPerSecond) ?? null,
      // What we take is what we compress: both hang on the compressor and the CPU's room for it.
      zstd: this.compressor?.room ?? false,
      zstdSignals: true,
      damageReports: true
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
      const { keepNew, crossing } = resolveSecondLink(this.opts.selfId, link, existing)
      if (!keepNew) { link.close(); return false }
      this.detach(existing, now, crossing)
      existing.close()
    }
    this.links.set(link.peer, link)
    // The CPU may have changed its mind since this link's HELLO went out.
    if (this.compressor != null) link.offerZstd(this.compressor.room)
    const hello = link.remoteHello
    const meta = link.meta()
    this.origin?.addPeer(link.peer, meta)
    const known = this.remoteHave.addHello(link.peer, hello?.have)
    if (this.download?.finished === false) {
      this.download.policy.addPeer(link.peer, meta, now)
      if (known.count > 0) this.download.policy.onBitfield(link.peer, known)
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
    this.download?.schedulePump()
    return true
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
    if (!keepKnown) this.remoteHave.forget(link.peer)
    this.uploader.removeLink(link)
    this.download?.policy.removePeer(link.peer, now)
    this.download?.schedulePump()
  }

  private onMessage (link: Link, m: WireMessage): void {
    const now = Date.now()
    const dl = this.download?.finished === false ? this.download : undefined
    switch (m.type) {
      case MsgType.Have:
        if (m.index >= this.chunkCount) { link.close(new Error(`HAVE for chunk ${m.index} of ${this.chunkCount}`)); return }
        this.remoteHave.of(link.peer).set(m.index)
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
        this.onPiece(link, m.index, m.data, m.length, m.zstd === true)
        return
      case MsgType.TakeZstd:
      case MsgType.NoZstd:
        link.onZstdWish(m.type === MsgType.TakeZstd)
        return
      case MsgType.Damaged:
        if (m.index >= this.chunkCount) { link.close(new Error(`DAMAGED for chunk ${m.index} of ${this.chunkCount}`)); return }
        // A frame we relayed may be what was damaged; the chunk on disk is checked by the node.
        this.compressor?.forget(m.index)
        this.opts.onDamageReport?.(m.index, link.peer)
        return
      case MsgType.Hello:
        link.close(new Error('second HELLO on one stream'))
        return
      case MsgType.FullService:
      case MsgType.LastResort:
        if (link.remoteHello?.origin !== true) break
        link.fullServiceReceived = m.type === MsgType.FullService
        dl?.policy.updatePeer(link.peer, link.meta())
        break
      case MsgType.Peers:
        if (this.downloading) this.opts.onPeersLearned(m.peers.filter(p => p.id !== this.opts.selfId && !this.links.has(p.id)))
        return
    }
    dl?.schedulePump()
  }

  // ---- downloading (image-download.ts) ----

  /** Pull the missing chunks into `partial`. Resolves, with the verified bytes fetched, once the image is complete and finished on disk. */
  startDownload (partial: PartialImage, onChunk?: (index: number) => void): Promise<number> {
    if (this.download != null && !this.download.finished) throw new Error(`already downloading ${this.key}`)
    const now = Date.now()
    const policy = createDownloadPolicy({
      chunkCount: this.chunkCount,
      chunkBytes: this.manifest.chunkSize,
      have: partial.have.clone(),
      zone: this.opts.zone,
      self: this.opts.selfId,
      rng: this.opts.rng,
      // Our peers start by choking us and say UNCHOKE on the wire.
      config: { peersStartChoked: true, downlinkBps: cappedBps(this.opts.linkBps, this.opts.download?.bitsPerSecond) ?? 0 }
    })
    const dl = new ImageDownload(this.downloadContext(), partial, policy, now, onChunk)
    this.download = dl
    this.preparing = false
    dl.done.catch(() => { if (this.download === dl) this.download = undefined })
    for (const l of this.links.values()) {
      this.catchUpHaves(l) // a resumed pull holds chunks its HELLOs did not show
      dl.addPeer(l, now)
    }
    dl.maybeFinish()
    dl.schedulePump()
    return dl.done
  }

  private downloadContext (): DownloadContext {
    return {
      key: this.key,
      chunkCount: this.chunkCount,
      chunkBytes: this.manifest.chunkSize,
      onVerifiedFrame: this.compressor == null ? undefined : (i, f) => { this.compressor?.remember(i, f) },
      links: this.links,
      knownHave: (peer) => this.remoteHave.of(peer),
      log: this.opts.log,
      onHeldChanged: this.opts.onHeldChanged,
      partialNewsAfterMs: this.opts.partialNewsAfterMs ?? PARTIAL_NEWS_AFTER_MS,
      cap: this.opts.download,
      onCorrupt: (link, index, drop) => {
        this.corruptChunks++
        // Before any close: the sender checks its copy, and stops serving it if its disk is at fault.
        link.reportDamaged(index)
        if (drop) {
          this.banned.add(link.peer)
          link.close(new Error('sent corrupt chunks'))
        }
      },
      onComplete: () => {
        this.complete = true
        this.fetchedBytes = this.download?.bytes ?? 0
        this.fetchedTwice = this.download?.policy.duplicates()
        this.download = undefined
        // A finished host tells its trading partners nothing new chunk-wise, but may lose interest in all.
        for (const l of this.links.values()) l.interested(false)
        this.opts.onHeldChanged('complete')
      }
    }
  }

  /** Abandon the download (kept on disk for a resume). */
  stopDownload (err: Error): void {
    this.download?.stop(err)
    this.download = undefined
  }

  progress (): DownloadProgress {
    return {
      have: this.heldCount(),
      total: this.chunkCount,
      bytes: this.download?.bytes ?? this.fetchedBytes,
      peers: this.links.size
    }
  }

  /** Ms since the download last verified a chunk (for stall timeouts). */
  idleFor (now: number): number {
    return this.download == null ? 0 : now - this.download.lastProgressAt
  }

  private onPiece (link: Link, index: number, data: Uint8Array[], length: number, zstd: boolean): void {
    this.downloadedBytes += length
    const theirZone = link.remoteHello?.zone
    if (this.opts.zone != null && theirZone != null && theirZone !== this.opts.zone) this.crossZoneBytes += length
    this.download?.onPiece(link, index, data, length, zstd)
  }

  private updateInterest (link: Link): void {
    if (this.download != null) this.download.updateInterest(link)
    else link.interested(false)
  }

  /** Timer work: the download's (expiry, interest, requests), rates, rechoke, reveal. */
  tick (now: number): void {
    this.download?.tick(now)
    for (const l of this.links.values()) { l.downloaded.sample(now); l.uploaded.sample(now) }
    this.uploader.tick(now)
    this.compressor?.tick(now)
  }

  close (): void {
    this.pex.close()
    this.compressor?.close()
    this.stopDownload(new Error('node stopping'))
    for (const l of this.links.values()) l.close()
    this.links.clear()
  }
}

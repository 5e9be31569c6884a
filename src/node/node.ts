/**
 * An imgp2p node: the libp2p host, the on-disk cache, gossip announcements
 * and one SwarmImage per image being traded. This is what `imgp2p daemon`
 * runs and what the in-process swarm tests start several of.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { rm } from 'node:fs/promises'
import { join, resolve as resolvePath } from 'node:path'
import { FsImageStore } from '../cache/image-store.js'
import type { ImageInfo, ImageStore, ImageExporter, VerifyResult } from '../cache/types.js'
import { parseCid } from '../chunking/cid.js'
import type { Bitfield } from '../util/bitfield.js'
import type { Manifest } from '../chunking/manifest.js'
import { HashPool, setDefaultHashPool } from '../chunking/verify.js'
import { seededRng } from '../policy/index.js'
import type { Rng } from '../policy/types.js'
import { Announcer } from './announcer.js'
import { createHost, type Imgp2pHost } from './host.js'
import { COMPLETE_NEWS_DELAY_MS } from './image-download.js'
import { loadOrCreateKey } from './identity.js'
import { BootstrapDialer } from './bootstrap.js'
import { CacheKeeper } from './cache-keeper.js'
import { verifyCache, type CacheVerifyOptions } from './cache-verify.js'
import { DamageReports } from './damage-reports.js'
import { RatePacer } from './rate-pacer.js'
import { Refusals } from './swarm-key.js'
import { CpuRoom } from './cpu-room.js'
import { DEFAULT_NEIGHBOURS, Neighbourhood } from './neighbours.js'
import { findManifest } from './manifest-finder.js'
import { ManifestPrefetch, fetchFromHolder } from './manifest-prefetch.js'
import { serveManifest } from './manifest-protocol.js'
import { MANIFEST_PROTOCOL, SWARM_PROTOCOL } from './protocols.js'
import { PERF_PROTOCOL, runPerf, servePerf } from './perf-protocol.js'
import { type Traffic, heldImages, imageReport, retire } from './node-report.js'
import type { NodeOptions, NodeStatus, PullOptions, PullResult, PullTally, VerifyTally } from './node-types.js'
import { pullImage, tallied, type PullContext, type RunningPull } from './pull.js'
import { SwarmImage } from './swarm-image.js'
import { SwarmLinks } from './swarm-links.js'

export type { NodeOptions, NodeStatus, PullOptions, PullProgress, PullResult, VerifyProgress } from './node-types.js'

const TICK_MS = 100

export class Imgp2pNode {
  readonly host: Imgp2pHost
  readonly store: ImageStore & ImageExporter
  readonly announcer: Announcer
  readonly peerId: string
  private readonly images = new Map<string, SwarmImage>()
  /** Pulls under way: the download, and the partial image once it is open. */
  private readonly pulls = new Map<string, RunningPull>()
  private readonly links: SwarmLinks
  /** Image keys whose completeness we announce, with the haveCount last announced. */
  private readonly completeImages = new Set<string>()
  private readonly addedHere = new Set<string>()
  /** Peer id -> its listen addresses, from identify, for peer exchange. */
  private readonly listenAddrs = new Map<string, Uint8Array[]>()
  private readonly rng: Rng
  private get frameDir (): string { return join(this.opts.dataDir, 'frames') }
  private tickTimer?: NodeJS.Timeout
  private readonly bootstrap: BootstrapDialer
  private readonly neighbours: Neighbourhood
  private stopped = false
  /** Manifests sent, and the traffic of images removed since (node-report.ts). */
  private readonly traffic: Traffic = { sent: 0, received: 0, crossZone: 0 }
  /** Pulls finished, for status and metrics. */
  private readonly pullTally: PullTally = { ok: 0, failed: 0, seconds: 0, bytesFetched: 0 }
  private readonly verifyTally: VerifyTally = { chunks: 0, damaged: 0 }
  private readonly prefetch: ManifestPrefetch
  private readonly log: (msg: string) => void
  /** Whether the CPU has room for compressed chunks (absent with compression off). */
  private readonly cpuRoom?: CpuRoom
  /** Holds the cache under --cache-max (absent without it). */
  private readonly keeper?: CacheKeeper
  /** --upload-mbit, shared by every image's uploads (absent without it). */
  private readonly uploadPacer?: RatePacer
  /** --download-mbit, shared by every pull (absent without it). */
  private readonly downloadPacer?: RatePacer
  /** A closed swarm's refusals (absent: the swarm is open). */
  private readonly refusals?: Refusals
  private readonly damage: DamageReports

  private constructor (host: Imgp2pHost, store: ImageStore & ImageExporter, private readonly opts: NodeOptions, refusals?: Refusals) {
    this.host = host
    this.store = store
    this.refusals = refusals
    this.peerId = host.peerId.toString()
    this.log = opts.log ?? (() => {})
    this.rng = seededRng(opts.seed ?? Math.floor(Math.random() * 2 ** 31))
    this.bootstrap = new BootstrapDialer(host, opts.peers ?? [], this.log)
    this.cpuRoom = opts.compressChunks === false ? undefined : new CpuRoom({
      clock: opts.cpuClock,
      always: opts.compressWhenCpuBound,
      onChange: (room, r) => {
        this.log(`compressed chunks ${room ? 'taken again' : 'refused'}: the network thread got ${r.share.toFixed(2)} of a core while it wanted one, ${r.demand.toFixed(2)} of the time`)
        for (const img of this.images.values()) img.setCpuRoom(room)
      }
    })
    this.uploadPacer = opts.uploadBps == null ? undefined : new RatePacer(opts.uploadBps)
    this.downloadPacer = opts.downloadBps == null ? undefined : new RatePacer(opts.downloadBps)
    this.keeper = opts.cacheMaxBytes == null ? undefined : new CacheKeeper({
      store,
      maxBytes: opts.cacheMaxBytes,
      graceMs: opts.cacheGraceMs,
      // Pulls and copies out are pinned by keeper.using() in pull().
      pinned: (key) => this.addedHere.has(key),
      served: (key) => this.images.get(key)?.uploadedBytes ?? 0,
      remove: async (key) => { await this.remove(key) },
      log: noticeOf(opts)
    })
    this.damage = new DamageReports({
      store,
      verify: async (key) => await this.verify(key),
      withhold: (key, index) => { this.images.get(key)?.withheld.add(index) },
      notice: noticeOf(opts)
    })
    this.links = new SwarmLinks({
      host,
      selfId: this.peerId,
      zone: opts.zone,
      imageFor: async (cid) => await this.imageFor(cid),
      caps: opts.links,
      log: this.log
    })
    this.neighbours = new Neighbourhood({
      host,
      target: opts.neighbours ?? DEFAULT_NEIGHBOURS,
      rng: this.rng,
      addrsOf: (peer) => this.dialableAddrs(peer),
      log: this.log
    })
    this.prefetch = new ManifestPrefetch({
      fetch: fetchFromHolder(host),
      selfId: this.peerId,
      rng: this.rng,
      known: (cid) => this.images.has(cid) || this.completeImages.has(cid) || this.pulls.has(cid),
      log: this.log
    })
    this.announcer = new Announcer({
      pubsub: host.services.pubsub,
      images: () => heldImages(this.completeImages, this.images),
      addrs: () => host.getMultiaddrs().map(a => a.decapsulateCode(421)),
      zone: opts.zone,
      batchMs: opts.announceBatchMs,
      steadyMs: opts.announceSteadyMs,
      // While we pull, the steady round would only repeat what every node
      // has heard, in the middle of a deployment that needs the CPU.
      quiet: () => [...this.images.values()].some(img => img.downloading)
    })
  }

  static async create (opts: NodeOptions): Promise<Imgp2pNode> {
    if (opts.hashWorkers != null) setDefaultHashPool(new HashPool({ size: opts.hashWorkers }))
    const store = opts.store ?? await FsImageStore.open(opts.dataDir)
    const refusals = opts.swarmKey !== undefined ? new Refusals(opts.swarmKey, noticeOf(opts)) : undefined
    const host = await createHost({
      privateKey: await loadOrCreateKey(opts.dataDir),
      listen: opts.listen ?? ['/ip4/0.0.0.0/tcp/4050'],
      mdns: opts.mdns,
      swarmKey: opts.swarmKey,
      onRefused: refusals !== undefined ? (r) => { refusals.record(r) } : undefined
    })
    const node = new Imgp2pNode(host, store, opts, refusals)
    await node.start()
    return node
  }

  private async start (): Promise<void> {
    // Compressed frames are scratch (cache/frame-ring.ts): a crash's leftovers go.
    await rm(this.frameDir, { recursive: true, force: true })
    for (const info of await this.store.list()) if (info.complete) this.completeImages.add(info.cid)
    // Images added here before a restart are still this host's to serve as their origin, and to keep.
    for (const key of this.store.addedImages()) if (this.completeImages.has(key)) this.addedHere.add(key)
    await this.host.handle(SWARM_PROTOCOL, (stream, conn) => { void this.links.accept(stream, conn) }, { maxInboundStreams: 256 })
    await this.host.handle(MANIFEST_PROTOCOL, (stream) => {
      void serveManifest(stream, async (cidBytes) => {
        const bytes = await this.store.getManifestBytes(CID.decode(cidBytes)).catch(() => undefined)
        if (bytes != null) this.traffic.sent += bytes.length
        return bytes
      })
    }, { maxInboundStreams: 64 })
    if (this.opts.enablePerf === true) await this.host.handle(PERF_PROTOCOL, (stream) => { void servePerf(stream) })
    this.announcer.start()
    this.announcer.onHolder((cid, holder) => {
      const img = this.images.get(cid)
      if (img?.downloading === true && holder.peer !== this.peerId) void this.links.open(img, holder.peer, holder.addrs, { news: true, holder: holder.complete })
      if (this.opts.prefetchManifests !== false) this.prefetch.onHolder(CID.parse(cid), holder)
    })
    this.host.addEventListener('peer:identify', (evt) => {
      const addrs = evt.detail.listenAddrs.filter(a => !isWildcard(a)).slice(0, 8).map(a => a.bytes)
      this.listenAddrs.set(evt.detail.peerId.toString(), addrs)
      this.neighbours.onIdentified(evt.detail.peerId.toString(), evt.detail.protocols)
    })
    this.host.addEventListener('peer:disconnect', (evt) => {
      this.listenAddrs.delete(evt.detail.toString())
      this.neighbours.onDisconnected(evt.detail.toString())
    })
    this.host.addEventListener('peer:discovery', (evt) => {
      this.neighbours.onDiscovered(evt.detail.id.toString(), evt.detail.multiaddrs)
    })
    this.host.addEventListener('peer:connect', (evt) => {
      // A new neighbour may hold what we are pulling: ask it directly rather than wait for gossip.
      for (const img of this.images.values()) if (img.downloading) void this.links.open(img, evt.detail.toString())
    })
    this.tickTimer = setInterval(() => { this.tick() }, TICK_MS)
    this.keeper?.start()
    await this.neighbours.start()
    this.bootstrap.start()
    if (this.completeImages.size > 0) this.announcer.changed()
  }

  addrs (): string[] {
    return this.host.getMultiaddrs().map(a => a.toString())
  }

  private tick (): void {
    const now = Date.now()
    this.cpuRoom?.tick(performance.now())
    for (const img of this.images.values()) img.tick(now)
  }

  /** The SwarmImage for an image we hold (complete, or being pulled), loading it on first use. */
  private async imageFor (cid: CID): Promise<SwarmImage | undefined> {
    const key = cid.toString()
    const existing = this.images.get(key)
    if (existing != null) return existing
    if (!this.completeImages.has(key)) return undefined
    const manifest = await this.store.getManifest(cid)
    if (manifest == null) return undefined
    return this.images.get(key) ?? this.createImage(cid, manifest, true)
  }

  private createImage (cid: CID, manifest: Manifest, complete: boolean): SwarmImage {
    const key = cid.toString()
    const img = new SwarmImage({
      cid,
      manifest,
      store: this.store,
      selfId: this.peerId,
      zone: this.opts.zone,
      origin: this.opts.origin === true || this.addedHere.has(key),
      complete,
      linkBps: this.opts.linkBps,
      upload: this.uploadPacer,
      download: this.downloadPacer,
      compress: this.opts.compressChunks,
      cpuRoom: this.cpuRoom?.room,
      frameDir: this.frameDir,
      rng: this.rng,
      choker: this.opts.choker,
      originPolicy: this.opts.originPolicy,
      partialNewsAfterMs: this.opts.partialNewsAfterMs,
      onHeldChanged: (what) => { this.announcer.changed(what === 'complete' ? this.opts.completeNewsDelayMs ?? COMPLETE_NEWS_DELAY_MS : undefined) },
      addrsOf: (peer) => this.dialableAddrs(peer),
      onDamageReport: (index, peer) => { void this.damage.report(key, index, peer) },
      onPeersLearned: (peers) => {
        const img = this.images.get(key)
        if (img == null) return
        for (const p of peers) {
          let addrs: Multiaddr[]
          try { addrs = p.addrs.map(a => multiaddr(a)) } catch { continue }
          void this.links.open(img, p.id, addrs, { news: true })
        }
      },
      log: this.log
    })
    this.images.set(key, img)
    return img
  }

  /** Listen addresses a peer told us (identify), not the ephemeral port it dialled us from. */
  private dialableAddrs (peer: string): Uint8Array[] {
    return this.listenAddrs.get(peer) ?? []
  }

  /**
   * Open links to everyone who may have chunks of `img`: announced holders,
   * then direct neighbours. A download that got nothing for a while ignores
   * the link caps: its partners may all be hosts as empty as itself, with no
   * one among them linked to a holder.
   */
  private connectCandidates (img: SwarmImage): void {
    const { starvedMs, starvedFirstMs } = this.links.caps
    const starved = img.downloading && img.idleFor(Date.now()) > (img.heldCount() > 0 ? starvedMs : starvedFirstMs)
    // Only a complete copy is worth a dial past the caps: every host of a
    // deployment holds part of the image, and dialling each of them every 2 s
    // was a stream, two HELLOs and a close per pair (FINDINGS.md session 8 J).
    for (const h of this.announcer.holdersOf(img.key)) void this.links.open(img, h.peer, h.addrs, { news: true, holder: h.complete, anyCap: starved })
    for (const p of this.host.getPeers()) void this.links.open(img, p.toString(), [], { anyCap: starved })
  }

  /** Peers announced to hold a complete copy of an image. */
  holdersOf (cidText: string): string[] {
    return this.announcer.holdersOf(parseCid(cidText).toString()).map(h => h.peer)
  }

  // ---- operations ----

  async add (file: string, options: { chunkSize?: number, signal?: AbortSignal } = {}): Promise<{ cid: string, size: number, chunks: number, reused: boolean }> {
    const { cid, manifest, reused } = await this.store.importFile(resolvePath(file), { chunkSize: options.chunkSize, signal: options.signal })
    const key = cid.toString()
    this.addedHere.add(key)
    void this.keeper?.enforce()
    this.completeImages.add(key)
    if (!this.images.has(key)) this.createImage(cid, manifest, true)
    // An image entering the cloud is news worth no batching delay: a
    // deployment may follow within a second.
    this.announcer.publishNow()
    return { cid: key, size: manifest.size, chunks: manifest.chunks.length, reused }
  }

  async pull (cidText: string, options: PullOptions = {}): Promise<PullResult> {
    const cid = parseCid(cidText)
    const run = async (): Promise<PullResult> => await pullImage(this.pullContext(), cid, options)
    return await tallied(this.pullTally, async () => this.keeper == null ? await run() : await this.keeper.using(cid.toString(), run))
  }

  /** What a pull uses of this node (pull.ts). */
  private pullContext (): PullContext {
    return {
      store: this.store,
      pulls: this.pulls,
      images: this.images,
      announcementsReceived: () => this.announcer.received,
      manifest: async (cid, timeoutMs, options) => await this.manifestFor(cid, timeoutMs, options),
      createImage: (cid, manifest) => this.createImage(cid, manifest, false),
      connectCandidates: (img) => { this.connectCandidates(img) },
      onComplete: (key) => {
        this.completeImages.add(key)
        void this.damage.pullEnded(key)
      },
      log: this.log
    }
  }

  private async manifestFor (cid: CID, timeoutMs: number, options: PullOptions): Promise<Manifest> {
    return (await this.store.getManifest(cid)) ?? await this.prefetched(cid) ?? await findManifest({
      host: this.host, announcer: this.announcer, store: this.store, selfId: this.peerId
    }, cid, { timeoutMs, signal: options.signal, onSearch: () => {
      options.onProgress?.({ cid: cid.toString(), phase: 'manifest', have: 0, total: 0, bytes: 0, peers: 0, chunkSize: 0, size: 0 })
    } })
  }

  /** The manifest, if it was fetched when the image was announced (manifest-prefetch.ts). */
  private async prefetched (cid: CID): Promise<Manifest | undefined> {
    const bytes = this.prefetch.take(cid)
    return bytes == null ? undefined : await this.store.putManifest(cid, bytes, { durable: false })
  }

  async list (): Promise<ImageInfo[]> {
    return await this.store.list()
  }

  async remove (cidText: string): Promise<boolean> {
    const cid = parseCid(cidText)
    const key = cid.toString()
    this.stopServing(key)
    this.addedHere.delete(key)
    const removed = await this.store.remove(cid)
    this.announcer.changed()
    return removed
  }

  /** `imgp2p verify`: scrub the cache (one image, or all); stop serving what it finds damaged. */
  async verify (cidText: string | undefined, options: CacheVerifyOptions = {}): Promise<VerifyResult[]> {
    return await verifyCache({
      store: this.store,
      tally: this.verifyTally,
      demoted: (key) => { this.stopServing(key); this.announcer.changed() },
      notice: noticeOf(this.opts)
    }, cidText, options)
  }

  /** Close an image's swarm (its links, its uploads), keeping its traffic in the totals. */
  private stopServing (key: string): void {
    const img = this.images.get(key)
    if (img != null) {
      img.close()
      retire(this.traffic, img)
    }
    this.images.delete(key)
    this.completeImages.delete(key)
  }

  async status (): Promise<NodeStatus> {
    return {
      peerId: this.peerId,
      addrs: this.addrs(),
      zone: this.opts.zone,
      peers: this.host.getPeers().map(p => ({ id: p.toString(), addrs: this.host.getConnections(p).map(c => c.remoteAddr.toString()) })),
      ...(this.cpuRoom != null ? { cpu: this.cpuRoom.report() } : {}),
      ...(this.keeper != null ? { cache: this.keeper.usage() } : {}),
      ...(this.uploadPacer != null ? { uploadCapBps: this.uploadPacer.bitsPerSecond } : {}),
      ...(this.downloadPacer != null ? { downloadCapBps: this.downloadPacer.bitsPerSecond } : {}),
      ...(this.refusals != null ? { swarm: this.refusals.report() } : {}),
      pulls: { ...this.pullTally },
      verified: { ...this.verifyTally },
      ...imageReport(await this.store.list(), this.images, this.traffic, Date.now())
    }
  }

  /** Raw libp2p stream throughput from `peer` to us: the reference for pull speed. */
  async perf (peer: string, bytes: number, signal?: AbortSignal): Promise<{ bytes: number, seconds: number }> {
    const stream = await this.host.dialProtocol(peerIdFromString(peer), PERF_PROTOCOL, { signal })
    stream.maxReadBufferLength = 64 * 1024 * 1024
    return { bytes, seconds: await runPerf(stream, bytes, signal) }
  }

  /** Which chunks of an image this node holds right now (verified), if it knows the image. */
  heldChunks (cidText: string): Bitfield | undefined {
    return this.images.get(parseCid(cidText).toString())?.held()
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.tickTimer)
    this.keeper?.stop()
    this.prefetch.stop()
    this.bootstrap.stop()
    this.neighbours.stop()
    this.announcer.stop()
    for (const img of this.images.values()) img.close()
    await this.host.stop()
    await this.store.close()
  }
}

function noticeOf (opts: NodeOptions): (msg: string) => void {
  return opts.notice ?? opts.log ?? (() => {})
}

function isWildcard (a: Multiaddr): boolean {
  const s = a.toString()
  return s.startsWith('/ip4/0.0.0.0/') || s.startsWith('/ip6/::/')
}

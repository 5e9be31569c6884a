/**
 * The download side of a SwarmImage: one pull of the image into its partial
 * files. The download policy's requests go out on the image's links,
 * verified chunks are written and told to the partners, and `done` settles
 * once the image is complete on disk. The links, and what each peer holds,
 * belong to the SwarmImage; this module only reads them.
 */
import type { PartialImage } from '../cache/types.js'
import { ChunkHashMismatchError } from '../errors.js'
import { describeDuplicates, totalDuplicates } from '../policy/duplicate-ledger.js'
import type { DownloadPolicy } from '../policy/types.js'
import type { Bitfield } from '../util/bitfield.js'
import { BadCompressedChunkError, decompressChunk } from './chunk-compressor.js'
import type { Link } from './link.js'
import type { DownloadCap } from './rate-pacer.js'

/**
 * A pull tells the network (gossip) that it holds part of the image only
 * once it has run this long. Its partners know from HAVEs, the hosts it meets
 * from its links and peer exchange (the origin passes on its swarm), and
 * everyone from the steady announcement. Each gossip message costs every node
 * a few ms (STACK-FACTS.md), and every host of a deployment sends one: at 24
 * hosts pulling 8 MiB an announcement at each host's first chunk took each
 * daemon from 0.38-0.45 to 0.80-0.82 s of CPU, and the makespan from 4.2-4.8
 * to 7.8-8.6 x (FINDINGS.md session 8 J). At 10 s the news still fell inside
 * the 15-30 s deployments of the cluster benchmark, 16-24 messages that each
 * daemon handled mid-pull (session 11). A pull that lasts longer, and still
 * has at least as long to go, gets its partial copy known to hosts that join
 * later.
 */
export const PARTIAL_NEWS_AFTER_MS = 30_000

/**
 * A finished pull tells the network after this delay. Nobody in its own
 * deployment needs the news (they know from HAVEs), and the hosts of one
 * deployment finish within seconds of each other: told at once, each host's
 * completion reached every daemon while the last hosts were still pulling,
 * 16-24 messages of a few ms each in the tail, where the cluster benchmark's
 * CPU decides (bench/cluster/FINDINGS.md session 11).
 */
export const COMPLETE_NEWS_DELAY_MS = 10_000

/**
 * HAVEs to the origin wait up to this long for each other, or leave at once
 * with any other frame to it. Every host tells the origin of every chunk it
 * gains (a host gains one every 40-60 ms at 50 Mbit/s): at 24 hosts 6,144
 * frames, each a record, a syscall and a wake-up there; batched, the
 * front-end used a quarter less CPU. The origin acts on what hosts hold only
 * after heldRevealDelayMs (1.5 s), so 200 ms changes none of its choices.
 * HAVEs to peers leave at once: a chunk that crosses to another switch
 * reaches the rest of its zone hop by hop, each hop waiting for a HAVE, and
 * batched for 200 ms too they made the slowest of 16 hosts on two switches
 * finish 0.7-1.9 s after the mean host instead of 0.3-0.7 s
 * (bench/cluster/FINDINGS.md session 12 C).
 */
export const ORIGIN_HAVE_BATCH_MS = 200

/** What a download's news is about: part of the image, or all of it. */
export type HeldNews = 'partial' | 'complete'

/** What the download needs of its image. */
export interface DownloadContext {
  readonly key: string
  readonly chunkCount: number
  /** The manifest's chunk size: no chunk inflates to more. */
  readonly chunkBytes: number
  /** A compressed chunk verified: its frame, to relay as it came (absent: not kept). */
  onVerifiedFrame?: (index: number, frame: Uint8Array) => void
  readonly links: ReadonlyMap<string, Link>
  /** What a peer holds, as far as its HELLOs and HAVEs told us. */
  knownHave: (peer: string) => Bitfield
  log: (msg: string) => void
  /** Something we hold changed in a way the rest of the network should hear (gossip). */
  onHeldChanged: (what: HeldNews) => void
  /** A chunk from `link` failed its CID; `drop`: that peer did so too often. */
  /** Chunk `index` from `link` failed its CID; `drop`: the policy gives up on that peer. */
  onCorrupt: (link: Link, index: number, drop: boolean) => void
  /** The image is complete on disk (before `done` settles). */
  onComplete: () => void
  /** When the pull first announces its partial copy. */
  partialNewsAfterMs: number
  /** --download-mbit, shared by every pull (absent: uncapped). */
  cap?: DownloadCap
}

export class ImageDownload {
  readonly policy: DownloadPolicy
  readonly partial: PartialImage
  /** Settles with the verified bytes this download fetched. */
  readonly done: Promise<number>
  /** Verified bytes fetched so far. */
  bytes = 0
  /** Set once the image is complete (or the download given up): no more requests. */
  finished = false
  readonly startedAt: number
  lastProgressAt: number

  private readonly ctx: DownloadContext
  private readonly onChunk?: (index: number) => void
  /** Chunks between arrival and verified write. */
  private readonly writing = new Set<number>()
  /** The feeder last written to the log. */
  private loggedFeeder?: string
  /** Our partial copy was announced (partialNewsAfterMs). */
  private announcedPartial = false
  private pumpScheduled = false
  private resolve!: (bytes: number) => void
  private reject!: (err: Error) => void

  constructor (ctx: DownloadContext, partial: PartialImage, policy: DownloadPolicy, now: number, onChunk?: (index: number) => void) {
    this.ctx = ctx
    this.partial = partial
    this.policy = policy
    this.onChunk = onChunk
    this.startedAt = now
    this.lastProgressAt = now
    this.done = new Promise<number>((resolve, reject) => { this.resolve = resolve; this.reject = reject })
  }

  /** A link to trade on: what its peer holds and whether it unchoked us are known already. */
  addPeer (link: Link, now: number): void {
    this.policy.addPeer(link.peer, link.meta(), now)
    const known = this.ctx.knownHave(link.peer)
    if (known.count > 0) this.policy.onBitfield(link.peer, known)
    if (!link.peerChoking) this.policy.onChoke(link.peer, false, now)
    this.updateInterest(link)
  }

  /** `zstd`: the bytes are compressed (PIECE_ZSTD); they are inflated, bounded by the chunk size, then verified. */
  onPiece (link: Link, index: number, data: Uint8Array[], length: number, zstd = false): void {
    if (this.finished || index >= this.ctx.chunkCount) return
    if (this.partial.have.has(index) || this.writing.has(index)) {
      this.policy.onDuplicate(index)
      return
    }
    this.writing.add(index)
    this.policy.onArrived(link.peer, index)
    // A copy: the slices belong to the connection's read buffers.
    const frame = zstd ? Buffer.concat(data) : undefined
    const written = frame == null
      ? this.partial.writeChunk(index, data).then(() => length)
      : this.writeInflated(index, frame)
    written.then((raw) => {
      this.writing.delete(index)
      if (frame != null) this.ctx.onVerifiedFrame?.(index, frame)
      if (this.finished) return
      this.onWritten(link, index, raw)
    }, (err: Error) => {
      this.writing.delete(index)
      if (this.finished) return
      if (err instanceof ChunkHashMismatchError || err instanceof BadCompressedChunkError) {
        this.ctx.log(`chunk ${index} from ${link.peer} failed verification`)
        const { drop } = this.policy.onCorrupt(link.peer, index, Date.now())
        this.ctx.onCorrupt(link, index, drop)
        this.schedulePump()
      } else {
        this.stop(err)
      }
    })
  }

  /** Inflate a PIECE_ZSTD's frame (bounded by the chunk size), verify and write it; resolves to the chunk's length. */
  private async writeInflated (index: number, frame: Uint8Array): Promise<number> {
    const raw = decompressChunk([frame], this.ctx.chunkBytes)
    await this.partial.writeChunk(index, [raw])
    return raw.length
  }

  private onWritten (link: Link, index: number, length: number): void {
    const now = Date.now()
    // The first chunk this download fetched: all-zero chunks are held from the start, so no count says it.
    const first = this.bytes === 0
    this.bytes += length
    this.lastProgressAt = now
    for (const c of this.policy.onReceived(link.peer, index, length, now)) this.ctx.links.get(c.peer)?.cancel(c.chunk)
    for (const l of this.ctx.links.values()) {
      // A peer that holds the chunk gains nothing from the HAVE; with every
      // host trading with every other, these messages grow with N squared.
      // The origin is always told: its reveals follow where chunks are.
      if (l.remoteHello?.origin === true) l.have(index, ORIGIN_HAVE_BATCH_MS)
      else if (!this.ctx.knownHave(l.peer).has(index)) l.have(index)
    }
    this.onChunk?.(index)
    const last = this.partial.have.complete
    if (first || last) this.ctx.log(`${this.ctx.key.slice(-8)}: ${first ? 'first' : 'last'} chunk from ${link.peer.slice(-6)}, ${this.partial.have.count} of ${this.ctx.chunkCount} held, ${now - this.startedAt} ms into the download`)
    this.maybeFinish()
    this.schedulePump()
  }

  /** Finish on disk once every chunk is held and written. */
  maybeFinish (): void {
    if (this.finished || this.writing.size > 0 || !this.partial.have.complete) return
    this.finished = true
    this.partial.finish().then(() => {
      const d = this.policy.duplicates()
      if (totalDuplicates(d) > 0) this.ctx.log(`${this.ctx.key.slice(-8)}: ${totalDuplicates(d)} chunks arrived twice (${describeDuplicates(d)})`)
      this.ctx.onComplete()
      this.resolve(this.bytes)
    }, (err: Error) => { this.reject(err) })
  }

  /** Abandon the download (kept on disk for a resume). */
  stop (err: Error): void {
    if (this.finished) return
    this.finished = true
    for (const r of this.policy.outstanding()) this.ctx.links.get(r.peer)?.cancel(r.chunk)
    this.partial.close().catch(() => {}).finally(() => { this.reject(err) })
  }

  updateInterest (link: Link): void {
    link.interested(!this.finished && this.policy.isInterested(link.peer))
  }

  schedulePump (): void {
    if (this.pumpScheduled) return
    this.pumpScheduled = true
    queueMicrotask(() => {
      this.pumpScheduled = false
      this.pump(Date.now())
    })
  }

  /**
   * Ask the policy for requests and send them. Under a download cap, only as
   * many as it allows now; the rest wait for the next arrival or tick (100 ms,
   * within the cap's burst, so the pipelines do not run dry meanwhile).
   */
  private pump (now: number): void {
    if (this.finished) return
    const cap = this.ctx.cap
    const unit = this.ctx.chunkBytes
    for (const r of this.policy.pick(now, cap?.allowance(unit))) {
      const l = this.ctx.links.get(r.peer)
      if (l == null) { this.policy.onRejected(r.peer, r.chunk, now); continue }
      cap?.take(unit)
      l.request(r.chunk)
    }
  }

  /** Timer work: expire slow requests, tell of the partial copy, refresh interest, request. */
  tick (now: number): void {
    if (this.finished) return
    for (const r of this.policy.expire(now)) this.ctx.links.get(r.peer)?.cancel(r.chunk)
    const ran = now - this.startedAt
    if (!this.announcedPartial && this.bytes > 0 && ran >= this.ctx.partialNewsAfterMs) {
      this.announcedPartial = true
      // A pull about to end says nothing now: its completion is told soon,
      // and at 16 hosts on 20 Mbit/s links (32 s pulls) news at 30 s came
      // in the tail, 16 messages to every daemon (FINDINGS.md session 11 B).
      const leftMs = (this.ctx.chunkCount - this.partial.have.count) * this.partial.manifest.chunkSize * ran / this.bytes
      if (leftMs >= this.ctx.partialNewsAfterMs) this.ctx.onHeldChanged('partial')
    }
    if (this.policy.feederPeer !== this.loggedFeeder) {
      this.loggedFeeder = this.policy.feederPeer
      this.ctx.log(`${this.ctx.key.slice(-8)}: ${this.loggedFeeder == null ? 'no feeder' : `fed by ${this.loggedFeeder.slice(-6)} alone`}, ${this.partial.have.count} of ${this.ctx.chunkCount} chunks, ${now - this.startedAt} ms into the download`)
    }
    for (const l of this.ctx.links.values()) this.updateInterest(l)
    this.pump(now)
  }
}

/**
 * The upload side of one image at one host: which partners we unchoke, the
 * requests we serve and, at the front-end, which chunks we reveal to whom.
 * Decisions come from the policy's Choker and OriginPolicy; this class only
 * applies them to links and moves bytes from the store to the wire.
 */
import type { CID } from 'multiformats/cid'
import type { ImageStore } from '../cache/types.js'
import type { Choker, OriginPolicy, UploadPeerStats } from '../policy/types.js'
import type { Bitfield } from '../util/bitfield.js'
import type { ChunkCompressor } from './chunk-compressor.js'
import type { Link } from './link.js'
import type { UploadCap } from './rate-pacer.js'

export interface UploaderOptions {
  cid: CID
  store: ImageStore
  choker: Choker
  /** Present in origin mode (the front-end). */
  origin?: OriginPolicy
  /** What we hold right now. */
  held: () => Bitfield
  /** Chunks we hold but no longer serve: found damaged on disk while this image is still being pulled. */
  withheld?: ReadonlySet<number>
  /** We hold the whole image (the choker then ranks by upload rate). */
  seeding: () => boolean
  /** Chunks a peer holds, as far as its HELLO and HAVEs told us. */
  haveCountOf: (peer: string) => number
  links: ReadonlyMap<string, Link>
  /** Compresses chunks for peers that take PIECE_ZSTD; absent: always send them as they are. */
  compressor?: ChunkCompressor
  /** The host's upload cap, waited on before each chunk (rate-pacer.ts); absent: no cap. */
  cap?: UploadCap
  log: (msg: string) => void
}

/** A chunk as it goes on the wire: as it is, or a compressed frame. */
interface Payload {
  bytes: Uint8Array
  zstd: boolean
}

interface ServeQueue {
  queue: number[]
  /** Chunks taken off the queue and not yet sent or refused (the one on the wire, the one read ahead), with their epoch. */
  taken: Map<number, number>
  running: boolean
  /** Bumped at every choke: a request taken off the queue before it is refused, not served. */
  epoch: number
}

const READ_RETRIES = 5

export class Uploader {
  uploadedBytes = 0
  private readonly serving = new Map<Link, ServeQueue>()
  /** When each unchoked link was last unchoked. */
  private readonly unchokedAt = new Map<Link, number>()
  private lastRechoke = -Infinity

  constructor (private readonly opts: UploaderOptions) {}

  get choker (): Choker { return this.opts.choker }
  get origin (): OriginPolicy | undefined { return this.opts.origin }

  addLink (link: Link, now: number): void {
    this.serving.set(link, { queue: [], taken: new Map(), running: false, epoch: 0 })
    // A free upload slot goes to a new partner at once rather than after its
    // INTERESTED arrives: one round trip less before the first chunk.
    this.unchokeIfFree(link)
    this.revealTo(link, now)
  }

  removeLink (link: Link): void {
    this.serving.delete(link)
    this.unchokedAt.delete(link)
    this.opts.origin?.removePeer(link.peer)
  }

  onInterested (link: Link): void {
    this.unchokeIfFree(link)
  }

  onRequest (link: Link, index: number): void {
    if (link.amChoking || !this.opts.held().has(index) || this.opts.withheld?.has(index) === true || this.opts.origin?.serves(link.peer, index, Date.now()) === false) {
      link.reject(index)
      return
    }
    const q = this.serving.get(link)
    if (q == null) return
    // Asked again while the first request is still ours to serve (the peer gave
    // it up at a CHOKE that an INTERESTED overtook): one copy answers both.
    if (q.taken.get(index) === q.epoch || q.queue.includes(index)) return
    q.queue.push(index)
    if (!q.running) void this.serve(link, q)
  }

  onCancel (link: Link, index: number): void {
    const q = this.serving.get(link)
    if (q != null) q.queue = q.queue.filter(i => i !== index)
  }

  /** Timer work: rechoke on the choker's interval, refill origin reveals. */
  tick (now: number): void {
    if (now - this.lastRechoke >= this.opts.choker.config.rechokeIntervalMs) {
      this.lastRechoke = now
      this.rechoke(now)
    }
    for (const l of this.opts.links.values()) this.revealTo(l, now)
  }

  /** Serve one link's requests in order; the bounded writer paces us to the link. */
  private async serve (link: Link, q: ServeQueue): Promise<void> {
    q.running = true
    // The next chunk is read from disk while the current one is on the wire,
    // so the link never waits on the disk.
    let ahead: { index: number, epoch: number, data: Promise<Payload | undefined> } | undefined
    const readNext = (): typeof ahead => {
      const index = q.queue.shift()
      if (index == null) return undefined
      q.taken.set(index, q.epoch)
      return { index, epoch: q.epoch, data: this.payload(link, index) }
    }
    try {
      while (!link.closed) {
        const cur = ahead ?? readNext()
        if (cur == null) break
        ahead = readNext()
        const data = await cur.data
        // The upload cap's wait comes first, so a peer choked meanwhile is refused, not sent to.
        const dropped = (): boolean => link.amChoking || cur.epoch !== q.epoch
        if (data != null && !dropped()) await this.opts.cap?.wait(data.bytes.length)
        if (link.closed) break
        if (data == null || dropped()) {
          q.taken.delete(cur.index)
          link.reject(cur.index)
          continue
        }
        // Not `uploadedBytes += await ...`: that reads the total before the await, and
        // every link's loop runs this concurrently, so their counts overwrote each other.
        const sent = await link.piece(cur.index, data.bytes, data.zstd)
        q.taken.delete(cur.index)
        this.uploadedBytes += sent
        if (this.opts.origin != null) {
          this.opts.origin.onSent(link.peer, cur.index)
          // Refill the peer's window now, not at the next tick: a lone host must never wait on us.
          this.revealTo(link, Date.now())
        }
      }
    } catch (err) {
      if (!link.closed) this.opts.log(`serving ${link.peer} failed: ${(err as Error).message}`)
    } finally {
      q.taken.clear()
      q.running = false
    }
  }

  /**
   * What to send for a chunk: its kept frame, else the chunk read from disk,
   * compressed when the peer takes that, our CPU has room, and it pays. Runs
   * ahead of the wire, so compressing overlaps the previous chunk's send.
   */
  private async payload (link: Link, index: number): Promise<Payload | undefined> {
    const c = link.takesZstd ? this.opts.compressor : undefined
    const kept = await c?.keptFrame(index)
    if (kept != null) return { bytes: kept, zstd: true }
    const data = await this.read(index)
    if (data == null) return undefined
    const packed = await c?.encode(index, data)
    return packed != null ? { bytes: packed, zstd: true } : { bytes: data, zstd: false }
  }

  /**
   * Read a chunk we hold. A read can miss while a finishing pull moves its
   * file into images/; a peer told REJECT for a chunk we hold would not ask
   * us again, so retry briefly before giving up.
   */
  private async read (index: number): Promise<Uint8Array | undefined> {
    for (let attempt = 0; ; attempt++) {
      const data = await this.opts.store.readChunk(this.opts.cid, index).catch((err: Error) => {
        this.opts.log(`reading chunk ${index} of ${this.opts.cid.toString()} failed: ${err.message}`)
        return undefined
      })
      if (data != null || attempt >= READ_RETRIES || !this.opts.held().has(index)) return data
      await new Promise(resolve => setTimeout(resolve, 20 * (attempt + 1)))
    }
  }

  /**
   * A choke refuses every request not yet on the wire, at once. The peer
   * gives them up when the CHOKE arrives (all but its oldest, the one we may
   * be sending) and asks elsewhere; served anyway after a quick unchoke (an
   * INTERESTED frees a slot within a second), each arrived twice.
   */
  private setChoke (link: Link, choke: boolean): void {
    if (choke && !link.amChoking) {
      link.choke(true)
      const q = this.serving.get(link)
      if (q != null) {
        q.epoch++
        for (const i of q.queue) link.reject(i)
        q.queue = []
      }
      return
    }
    if (!choke && link.amChoking) this.unchokedAt.set(link, Date.now())
    link.choke(choke)
  }

  private unchokeIfFree (link: Link): void {
    if (!link.amChoking) return
    let unchoked = 0
    for (const l of this.opts.links.values()) if (!l.amChoking) unchoked++
    if (unchoked < this.opts.choker.config.uploadSlots + 1) this.setChoke(link, false)
  }

  private rechoke (now: number): void {
    const stats: UploadPeerStats[] = []
    for (const l of this.opts.links.values()) {
      stats.push({
        peer: l.peer,
        interested: l.peerInterested,
        downloadRate: l.downloaded.sample(now),
        uploadRate: l.uploaded.sample(now),
        unchoked: !l.amChoking,
        zone: l.remoteHello?.zone ?? undefined,
        rttMs: l.rttMs,
        haveCount: this.opts.haveCountOf(l.peer)
      })
    }
    const keep = new Set(this.opts.choker.rechoke(stats, this.opts.seeding(), now).unchoked)
    // A partner unchoked since the last round keeps its slot for this one:
    // its INTERESTED may still be on the way, its requests right behind it.
    // Choked at once, it gave those up, asked again at the next UNCHOKE, and
    // got each chunk twice (FINDINGS.md session 17 B).
    const fresh = (l: Link): boolean => !l.amChoking && now - (this.unchokedAt.get(l) ?? -Infinity) < this.opts.choker.config.rechokeIntervalMs
    for (const l of this.opts.links.values()) this.setChoke(l, !keep.has(l.peer) && !fresh(l))
  }

  private revealTo (link: Link, now: number): void {
    if (this.opts.origin == null) return
    const revealed = this.opts.origin.reveal(link.peer, now)
    // Before the HAVEs, so the peer counts them as an ordinary peer's.
    const full = this.opts.origin.fullService(link.peer, now)
    if (full !== link.fullServiceSent) this.opts.log(`${this.opts.cid.toString().slice(-8)}: full service ${full ? 'on' : 'off'} for ${link.peer.slice(-6)}`)
    link.fullService(full)
    for (const i of revealed) link.have(i)
  }
}

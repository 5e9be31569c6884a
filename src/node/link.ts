/**
 * One swarm stream with one peer about one image: framing, the HELLO
 * exchange, choke/interest state and byte meters. It decides nothing; the
 * SwarmImage that owns it does.
 */
import type { Stream } from '@libp2p/interface'
import type { PeerMeta } from '../policy/types.js'
import { BoundedWriter } from './stream-writer.js'
import { RateMeter } from './rate.js'
import {
  FrameDecoder, MsgType, encodeHello, encodeIndexed, encodePeers, encodePieceHeader, encodeSignal,
  type Hello, type PexEntry, type WireMessage
} from './wire.js'

/** A peer's HELLO must come quickly; a silent stream ties up a slot. */
const HELLO_TIMEOUT_MS = 10_000
/** Above the yamux window (16 MiB) so a paused reader is not reset (STACK-FACTS.md). */
const READ_BUFFER_LIMIT = 64 * 1024 * 1024

export interface LinkHandlers {
  onMessage: (link: Link, msg: WireMessage) => void
  onClose: (link: Link, err?: Error) => void
}

export class Link {
  readonly peer: string
  /** Who opened the stream: decides which of two crossing streams survives. */
  readonly initiator: 'local' | 'remote'
  readonly downloaded: RateMeter
  readonly uploaded: RateMeter
  remoteHello?: Hello
  /** We choke them (they may not request). */
  amChoking = true
  /** They choke us. */
  peerChoking = true
  amInterested = false
  peerInterested = false
  rttMs?: number
  closed = false
  /** Peers we already told this peer about (peer exchange). */
  readonly pexSent = new Set<string>()

  private readonly writer: BoundedWriter
  private readonly decoder: FrameDecoder
  private handlers?: LinkHandlers
  private backlog: WireMessage[] = []
  private readonly abort = new AbortController()

  constructor (readonly stream: Stream, peer: string, initiator: 'local' | 'remote', now: number, maxPiece: number) {
    this.peer = peer
    this.initiator = initiator
    this.downloaded = new RateMeter(now)
    this.uploaded = new RateMeter(now)
    this.writer = new BoundedWriter(stream)
    this.decoder = new FrameDecoder(maxPiece)
    stream.maxReadBufferLength = READ_BUFFER_LIMIT
    stream.addEventListener('message', (evt) => {
      let msgs: WireMessage[]
      try {
        msgs = this.decoder.push(evt.data)
      } catch (err) {
        this.close(err as Error)
        return
      }
      for (const m of msgs) {
        if (m.type === MsgType.Piece) this.downloaded.add(m.length)
        if (this.handlers == null) this.backlog.push(m)
        else this.handlers.onMessage(this, m)
      }
    })
    stream.addEventListener('close', (evt) => { this.closed = true; this.abort.abort(); this.handlers?.onClose(this, evt.error) })
    // The peer is done with this image (it removed it, or stopped): a
    // half-open link would block a fresh one from the same peer.
    stream.addEventListener('remoteCloseWrite', () => { this.close() })
  }

  get signal (): AbortSignal { return this.abort.signal }

  setMaxPiece (n: number): void { this.decoder.setMaxPiece(n) }

  /** Wait for the peer's HELLO (the first frame either side sends). */
  async readHello (): Promise<Hello> {
    const first = this.backlog.shift() ?? await new Promise<WireMessage>((resolve, reject) => {
      const timer = setTimeout(() => { cleanup(); reject(new Error(`peer ${this.peer} sent no HELLO within ${HELLO_TIMEOUT_MS} ms`)) }, HELLO_TIMEOUT_MS)
      const check = (): void => {
        const m = this.backlog.shift()
        if (m != null) { cleanup(); resolve(m) }
      }
      const onClose = (): void => { cleanup(); reject(new Error(`peer ${this.peer} closed the stream before HELLO`)) }
      const cleanup = (): void => {
        clearTimeout(timer)
        this.stream.removeEventListener('message', check)
        this.stream.removeEventListener('close', onClose)
      }
      // The decoding listener was registered first, so the backlog is filled before `check` runs.
      this.stream.addEventListener('message', check)
      this.stream.addEventListener('close', onClose)
    })
    if (first.type !== MsgType.Hello) throw new Error(`peer ${this.peer} spoke before HELLO`)
    this.remoteHello = first.hello
    return first.hello
  }

  /** From now on messages go to `handlers`; anything that arrived meanwhile is delivered first. */
  attach (handlers: LinkHandlers): void {
    this.handlers = handlers
    const pending = this.backlog
    this.backlog = []
    for (const m of pending) handlers.onMessage(this, m)
    if (this.closed) handlers.onClose(this)
  }

  /** The bitfield our HELLO carried: what the peer knows we hold, before any HAVE. */
  helloHave: Uint8Array | null = null

  sendHello (hello: Hello): void {
    // A copy: the bitfield behind `hello.have` keeps changing as chunks arrive.
    this.helloHave = hello.have?.slice() ?? null
    this.zstdOffered = hello.zstd === true
    this.helloSent = true
    this.writer.sendNow(encodeHello(hello))
  }
  /** `withinMs`: the HAVE may wait that long for others to this peer (stream-writer.ts sendSoon). */
  have (index: number, withinMs = 0): void {
    const frame = encodeIndexed(MsgType.Have, index)
    if (withinMs > 0) this.writer.sendSoon(frame, withinMs)
    else this.writer.sendNow(frame)
  }
  request (index: number): void { this.writer.sendNow(encodeIndexed(MsgType.Request, index)) }
  cancel (index: number): void { this.writer.sendNow(encodeIndexed(MsgType.Cancel, index)) }
  reject (index: number): void { this.writer.sendNow(encodeIndexed(MsgType.Reject, index)) }

  /** Tell the peer chunk `index` it sent failed its CID, once per chunk, if its build knows DAMAGED. */
  reportDamaged (index: number): void {
    if (this.remoteHello?.damageReports !== true || this.damageReported.has(index)) return
    this.damageReported.add(index)
    this.writer.sendNow(encodeIndexed(MsgType.Damaged, index))
  }

  peers (entries: PexEntry[]): void { if (entries.length > 0) this.writer.sendNow(encodePeers(entries)) }

  choke (choke: boolean): void {
    if (this.amChoking === choke) return
    this.amChoking = choke
    this.writer.sendNow(encodeSignal(choke ? MsgType.Choke : MsgType.Unchoke))
  }

  interested (interested: boolean): void {
    if (this.amInterested === interested) return
    this.amInterested = interested
    this.writer.sendNow(encodeSignal(interested ? MsgType.Interested : MsgType.NotInterested))
  }

  /** Origin side: whether this peer was last told to trade with us like any peer. */
  fullServiceSent = false
  /** Downloader side: the origin at the other end last said FULL_SERVICE. */
  fullServiceReceived = false

  /**
   * What the policies know of the peer. An origin that offered full service
   * is traded with like any peer until it says LAST_RESORT.
   */
  meta (): PeerMeta {
    const hello = this.remoteHello
    return {
      zone: hello?.zone ?? undefined,
      rttMs: this.rttMs,
      origin: (hello?.origin ?? false) && !this.fullServiceReceived,
      fullService: (hello?.origin ?? false) && this.fullServiceReceived,
      linkBps: hello?.linkBps ?? undefined
    }
  }

  fullService (full: boolean): void {
    if (this.fullServiceSent === full) return
    this.fullServiceSent = full
    this.writer.sendNow(encodeSignal(full ? MsgType.FullService : MsgType.LastResort))
  }

  /**
   * Send a chunk's payload, waiting for room in the stream's bounded queue;
   * `zstd`: it is a compressed frame (only for a peer whose HELLO takes them).
   * Returns the payload bytes sent.
   */
  async piece (index: number, payload: Uint8Array, zstd = false): Promise<number> {
    await this.writer.write([encodePieceHeader(index, payload.length, zstd), payload], this.abort.signal)
    this.uploaded.add(payload.length)
    return payload.length
  }

  /** Whether the peer takes compressed chunks (PIECE_ZSTD): its HELLO, then its last TAKE_ZSTD / NO_ZSTD. */
  get takesZstd (): boolean { return this.peerZstd ?? this.remoteHello?.zstd === true }

  /** The peer's TAKE_ZSTD / NO_ZSTD arrived. */
  onZstdWish (take: boolean): void { this.peerZstd = take }

  /** Tell the peer whether we take PIECE_ZSTD now, if that differs from what it last heard. */
  offerZstd (take: boolean): void {
    // Before our HELLO the peer would take it for a protocol error (the HELLO
    // will say it), and so would an older build that does not know the signals.
    if (!this.helloSent || this.remoteHello?.zstdSignals !== true || this.zstdOffered === take) return
    this.zstdOffered = take
    this.writer.sendNow(encodeSignal(take ? MsgType.TakeZstd : MsgType.NoZstd))
  }

  /** What we last told the peer about PIECE_ZSTD (HELLO or signal). */
  private zstdOffered = false
  /** Chunks we told the peer were damaged (DAMAGED goes once per chunk). */
  private readonly damageReported = new Set<number>()
  private helloSent = false
  private peerZstd?: boolean

  close (err?: Error): void {
    if (this.closed) return
    this.closed = true
    this.abort.abort()
    if (err == null) this.writer.flush()
    if (err != null) this.stream.abort(err)
    else this.stream.close().catch(() => { this.stream.abort(new Error('close failed')) })
    this.handlers?.onClose(this, err)
  }
}

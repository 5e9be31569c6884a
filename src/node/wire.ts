/**
 * The swarm wire protocol, one stream per (peer, image), BitTorrent-style:
 *
 *   frame = u32 length (of type + body) | u8 type | body
 *
 * HELLO opens each direction (image CID, our bitfield or none, zone, origin
 * flag, link rate); then HAVE / CHOKE / UNCHOKE / INTERESTED / NOT_INTERESTED /
 * REQUEST / CANCEL / REJECT carry a u32 chunk index where they need one, and
 * PIECE carries the index followed by the chunk's bytes; PIECE_ZSTD the same
 * with the bytes zstd-compressed, sent only to a peer whose HELLO said it takes
 * them (the chunk is checked against its CID after decompression). PEERS is peer
 * exchange: other hosts trading this image and where to dial them, so a swarm
 * forms in one round trip instead of waiting on gossip. FULL_SERVICE and
 * LAST_RESORT come from an origin: trade with it like any peer, or again ask
 * it only for what no one else has. TAKE_ZSTD and NO_ZSTD change what the
 * HELLO said about PIECE_ZSTD: a host whose CPU, not its link, is the limit
 * asks for chunks as they are (policy/compression-gate.ts). They go only to a
 * peer whose HELLO says `zstdSignals`: an older build refuses unknown types.
 * DAMAGED says a chunk the peer sent failed its CID, so the sender checks its
 * own copy (a disk that rots would otherwise go on serving damage to every
 * host); it goes only to a peer whose HELLO says `damageReports`.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { Uint8ArrayList } from 'uint8arraylist'
import { ProtocolError } from '../errors.js'

export const MsgType = {
  Hello: 0,
  Have: 1,
  Choke: 2,
  Unchoke: 3,
  Interested: 4,
  NotInterested: 5,
  Request: 6,
  Cancel: 7,
  Piece: 8,
  Reject: 9,
  Peers: 10,
  FullService: 11,
  LastResort: 12,
  PieceZstd: 13,
  TakeZstd: 14,
  NoZstd: 15,
  Damaged: 16
} as const
export type MsgTypeId = typeof MsgType[keyof typeof MsgType]

export interface Hello {
  /** Image CID bytes. */
  cid: Uint8Array
  chunkCount: number
  /** Bitfield bytes, or null when we hold nothing of it (or reveal nothing: origin mode). */
  have: Uint8Array | null
  zone: string | null
  origin: boolean
  /** The sender's link rate in bits/s as its operator stated it, or null. */
  linkBps: number | null
  /** The sender's download has got nothing for a while: take this link whatever the caps (absent: false). */
  starving?: boolean
  /** The sender takes PIECE_ZSTD (absent: false). */
  zstd?: boolean
  /** The sender understands TAKE_ZSTD / NO_ZSTD (absent: an older build, which would close the stream on them). */
  zstdSignals?: boolean
  /** The sender understands DAMAGED (absent: an older build, which would close the stream on it). */
  damageReports?: boolean
}

export type SignalType = typeof MsgType.Choke | typeof MsgType.Unchoke | typeof MsgType.Interested | typeof MsgType.NotInterested |
  typeof MsgType.FullService | typeof MsgType.LastResort | typeof MsgType.TakeZstd | typeof MsgType.NoZstd

export type IndexedType = typeof MsgType.Have | typeof MsgType.Request | typeof MsgType.Cancel | typeof MsgType.Reject | typeof MsgType.Damaged

export type WireMessage =
  | { type: typeof MsgType.Hello, hello: Hello }
  | { type: SignalType }
  | { type: IndexedType, index: number }
  /** `data`: the chunk's bytes in the slices they arrived in (no copy); `length` their total; `zstd`: compressed (PIECE_ZSTD). */
  | { type: typeof MsgType.Piece, index: number, data: Uint8Array[], length: number, zstd?: true }
  | { type: typeof MsgType.Peers, peers: PexEntry[] }

export interface PexEntry {
  id: string
  /** Multiaddr bytes. */
  addrs: Uint8Array[]
}

/** Bounds on one PEERS message, so a peer cannot make us dial the world. */
export const MAX_PEX_PEERS = 50
const MAX_PEX_ADDRS = 8

/** Control frames are tiny; anything bigger than this that is not a PIECE is a broken or hostile peer. */
const MAX_CONTROL_FRAME = 2 * 1024 * 1024

export function encodeHello (hello: Hello): Uint8Array {
  const body = dagCbor.encode({
    cid: hello.cid,
    n: hello.chunkCount,
    have: hello.have,
    zone: hello.zone,
    origin: hello.origin,
    link: hello.linkBps,
    ...(hello.starving === true ? { starving: true } : {}),
    ...(hello.zstd === true ? { zstd: true } : {}),
    ...(hello.zstdSignals === true ? { zstdSignals: true } : {}),
    ...(hello.damageReports === true ? { damageReports: true } : {})
  })
  return frame(MsgType.Hello, body)
}

export function encodePeers (peers: PexEntry[]): Uint8Array {
  return frame(MsgType.Peers, dagCbor.encode(peers.slice(0, MAX_PEX_PEERS).map(p => ({ id: p.id, addrs: p.addrs.slice(0, MAX_PEX_ADDRS) }))))
}

function decodePeers (body: Uint8Array): PexEntry[] {
  let v: unknown
  try { v = dagCbor.decode(body) } catch (err) { throw new ProtocolError('peer sent an undecodable PEERS', { cause: err }) }
  if (!Array.isArray(v) || v.length > MAX_PEX_PEERS) throw new ProtocolError('peer sent a malformed PEERS')
  return v.map((e: unknown) => {
    const o = e as Record<string, unknown>
    if (typeof o?.id !== 'string' || o.id.length > 128 || !Array.isArray(o.addrs) || o.addrs.length > MAX_PEX_ADDRS || !o.addrs.every(a => a instanceof Uint8Array)) {
      throw new ProtocolError('peer sent a malformed PEERS entry')
    }
    return { id: o.id, addrs: o.addrs as Uint8Array[] }
  })
}

export function encodeSignal (type: SignalType): Uint8Array {
  const out = new Uint8Array(5)
  new DataView(out.buffer).setUint32(0, 1)
  out[4] = type
  return out
}

export function encodeIndexed (type: IndexedType, index: number): Uint8Array {
  const out = new Uint8Array(9)
  const dv = new DataView(out.buffer)
  dv.setUint32(0, 5)
  out[4] = type
  dv.setUint32(5, index)
  return out
}

/** Header of a PIECE (or PIECE_ZSTD) frame; the chunk bytes follow as a separate send so they are never copied. */
export function encodePieceHeader (index: number, dataLength: number, zstd = false): Uint8Array {
  const out = new Uint8Array(9)
  const dv = new DataView(out.buffer)
  dv.setUint32(0, 5 + dataLength)
  out[4] = zstd ? MsgType.PieceZstd : MsgType.Piece
  dv.setUint32(5, index)
  return out
}

function frame (type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length)
  new DataView(out.buffer).setUint32(0, 1 + body.length)
  out[4] = type
  out.set(body, 5)
  return out
}

function decodeHello (body: Uint8Array): Hello {
  let v: unknown
  try { v = dagCbor.decode(body) } catch (err) { throw new ProtocolError('peer sent an undecodable HELLO', { cause: err }) }
  if (typeof v !== 'object' || v == null) throw new ProtocolError('peer sent a malformed HELLO')
  const o = v as Record<string, unknown>
  if (!(o.cid instanceof Uint8Array) || typeof o.n !== 'number' || !Number.isInteger(o.n) || o.n < 0) throw new ProtocolError('peer sent a malformed HELLO')
  if (o.have != null && !(o.have instanceof Uint8Array)) throw new ProtocolError('peer sent a malformed HELLO bitfield')
  return {
    cid: o.cid,
    chunkCount: o.n,
    have: (o.have as Uint8Array | null | undefined) ?? null,
    zone: typeof o.zone === 'string' ? o.zone.slice(0, 64) : null,
    origin: o.origin === true,
    // A rate is a hint for the origin's service decision; nonsense counts as unknown.
    linkBps: typeof o.link === 'number' && Number.isFinite(o.link) && o.link > 0 ? o.link : null,
    starving: o.starving === true,
    zstd: o.zstd === true,
    zstdSignals: o.zstdSignals === true,
    damageReports: o.damageReports === true
  }
}

/**
 * Reassembles frames from the stream's arbitrary slices. `maxPiece` bounds a
 * PIECE frame (the image's chunk size) so a peer cannot make us buffer more.
 *
 * A PIECE's payload is collected as the slices it arrives in: they go
 * straight into the message's parts, never through the header buffer. Going
 * through a Uint8ArrayList and its sublist() cost ~1 ms per 512 KiB chunk,
 * the largest item of our own code in a swarm host's profile.
 */
export class FrameDecoder {
  private readonly buf = new Uint8ArrayList()
  private piece?: { index: number, length: number, parts: Uint8Array[], got: number, zstd: boolean }
  constructor (private maxPiece: number) {}

  setMaxPiece (n: number): void { this.maxPiece = n }

  push (data: Uint8Array | Uint8ArrayList): WireMessage[] {
    const out: WireMessage[] = []
    if (data instanceof Uint8Array) this.feed(data, out)
    else for (const slice of data) this.feed(slice, out)
    return out
  }

  private feed (slice: Uint8Array, out: WireMessage[]): void {
    let rest = slice
    while (rest.length > 0) {
      const piece = this.piece
      if (piece != null) {
        const take = Math.min(piece.length - piece.got, rest.length)
        piece.parts.push(rest.subarray(0, take))
        piece.got += take
        rest = rest.subarray(take)
        if (piece.got === piece.length) this.finishPiece(out)
        continue
      }
      this.buf.append(rest)
      rest = EMPTY
      this.parseBuffered(out)
      if (this.piece != null && this.buf.byteLength > 0) {
        // Bytes after a PIECE header already sit in the buffer: move them over.
        const pending = [...this.buf]
        this.buf.consume(this.buf.byteLength)
        for (const b of pending) this.feed(b, out)
      }
    }
  }

  /** Decode whole frames from the buffer; stop at a PIECE header (its payload is collected apart). */
  private parseBuffered (out: WireMessage[]): void {
    while (this.buf.byteLength >= 5) {
      const len = this.buf.getUint32(0)
      const type = this.buf.get(4)
      const isPiece = type === MsgType.Piece || type === MsgType.PieceZstd
      // A compressed chunk is sent only when smaller than the chunk, so the same bound holds.
      const limit = isPiece ? this.maxPiece + 5 : MAX_CONTROL_FRAME
      if (len < 1 || len > limit) throw new ProtocolError(`peer sent a frame of ${len} bytes (type ${type}), over the limit of ${limit}`)
      if (isPiece) {
        if (len < 5) throw new ProtocolError('peer sent a truncated PIECE')
        if (this.buf.byteLength < 9) return
        this.piece = { index: this.buf.getUint32(5), length: len - 5, parts: [], got: 0, zstd: type === MsgType.PieceZstd }
        this.buf.consume(9)
        if (this.piece.length === 0) this.finishPiece(out)
        return
      }
      if (this.buf.byteLength < 4 + len) return
      const body = this.buf.subarray(5, 4 + len)
      this.buf.consume(4 + len)
      out.push(decodeBody(type, body))
    }
  }

  private finishPiece (out: WireMessage[]): void {
    const p = this.piece
    if (p == null) return
    this.piece = undefined
    out.push(p.zstd ? { type: MsgType.Piece, index: p.index, data: p.parts, length: p.length, zstd: true } : { type: MsgType.Piece, index: p.index, data: p.parts, length: p.length })
  }
}

const EMPTY = new Uint8Array(0)

function decodeBody (type: number, body: Uint8Array): WireMessage {
  switch (type) {
    case MsgType.Hello:
      return { type, hello: decodeHello(body) }
    case MsgType.Choke: case MsgType.Unchoke: case MsgType.Interested: case MsgType.NotInterested:
    case MsgType.FullService: case MsgType.LastResort: case MsgType.TakeZstd: case MsgType.NoZstd:
      if (body.length !== 0) throw new ProtocolError(`peer sent ${body.length} stray bytes in a type ${type} frame`)
      return { type }
    case MsgType.Have: case MsgType.Request: case MsgType.Cancel: case MsgType.Reject: case MsgType.Damaged:
      if (body.length !== 4) throw new ProtocolError(`peer sent a type ${type} frame of ${body.length} bytes, expected 4`)
      return { type, index: readU32(body, 0) }
    case MsgType.Peers:
      return { type, peers: decodePeers(body) }
    default:
      throw new ProtocolError(`peer sent unknown message type ${type}`)
  }
}

function readU32 (b: Uint8Array, off: number): number {
  return ((b[off] << 24) >>> 0) + (b[off + 1] << 16) + (b[off + 2] << 8) + b[off + 3]
}

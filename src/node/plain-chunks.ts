/**
 * Chunk bytes over plain TCP, beside the encrypted libp2p connection
 * (`imgp2p daemon --plain-chunks`, off by default).
 *
 * Why: on a host link of tens of Mbit/s, what a chunk costs the CPU is not
 * its encryption but the reads. Every few KB that arrive make a fresh buffer
 * in Node's stream stack, copied and later collected: 64 MiB over one shaped
 * 50 Mbit/s link cost the receiver 0.55-1.0 s through libp2p, 0.6 s through
 * Node's TLS or a plain socket read the usual way, and 0.19 s through a
 * socket that reads into one reused buffer (bench/cluster/stream-cpu.ts).
 * Node offers that reuse (`onread`) only on a socket it dials itself, not
 * under TLS on a socket libp2p owns. A second effect: REQUEST, HAVE and
 * CANCEL no longer queue behind megabytes of chunk data in one connection's
 * send buffer, which is where they lost 0.3-2 s on loaded links.
 *
 * What stays safe: every chunk is still checked against its CID before it is
 * written or served, and a peer that sends bad bytes is dropped, so a plain
 * connection can delay an image but not corrupt it. What is given up:
 * confidentiality of the image bytes on the wire (as with BitTorrent, NFS or
 * a plain HTTP copy). All control messages stay on the encrypted,
 * authenticated libp2p stream.
 *
 * The handshake: each side that offers plain chunks puts a port and a fresh
 * random token in its HELLO for that link (sent over the secure stream). A
 * peer that wants them dials that port at the address its libp2p connection
 * reached, and sends the token first; the offering side then writes that
 * link's PIECEs on the socket instead of the stream. One socket carries one
 * direction: whoever receives dials, so the receiving end is always a socket
 * Node lets us read into a reused buffer. A token is good once, and only
 * while its link is open.
 *
 *   piece = u32 chunk index | u32 length | the chunk's bytes
 */
import { randomBytes } from 'node:crypto'
import { type Server, type Socket, connect, createServer } from 'node:net'
import type { Link } from './link.js'

export interface PlainChunksOffer {
  port: number
  token: Uint8Array
}

export const TOKEN_BYTES = 16
const PIECE_HEADER = 8
/** A dialler must show its token this quickly. */
const TOKEN_TIMEOUT_MS = 10_000
/** Reads land here, then are copied into the chunk they belong to. */
const READ_BUFFER = 256 * 1024

export class PlainChunks {
  bytesSent = 0
  bytesReceived = 0
  private server?: Server
  private readonly offers = new Map<string, Link>()
  private readonly sockets = new Set<Socket>()

  constructor (private readonly log: (msg: string) => void) {}

  /** Listen on `host` (an address the libp2p node listens on; '0.0.0.0' for all) and `port` (0: any free one). */
  async start (host: string, port: number): Promise<number> {
    const server = createServer((sock) => { this.accept(sock) })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => { server.off('error', reject); resolve() })
    })
    this.server = server
    const addr = server.address()
    return typeof addr === 'object' && addr != null ? addr.port : port
  }

  get port (): number {
    const addr = this.server?.address()
    return typeof addr === 'object' && addr != null ? addr.port : 0
  }

  async stop (): Promise<void> {
    for (const s of this.sockets) s.destroy()
    this.offers.clear()
    const server = this.server
    this.server = undefined
    if (server != null) await new Promise<void>(resolve => { server.close(() => { resolve() }) })
  }

  /** What our HELLO on `link` offers: the peer dials `port` with `token` to get this link's PIECEs. */
  offer (link: Link): PlainChunksOffer | undefined {
    if (this.server == null) return undefined
    const token = randomBytes(TOKEN_BYTES)
    const key = token.toString('hex')
    this.offers.set(key, link)
    link.signal.addEventListener('abort', () => { this.offers.delete(key) }, { once: true })
    return { port: this.port, token }
  }

  private accept (sock: Socket): void {
    this.track(sock)
    let got = Buffer.alloc(0)
    const timer = setTimeout(() => { sock.destroy() }, TOKEN_TIMEOUT_MS)
    const onData = (d: Buffer): void => {
      got = Buffer.concat([got, d])
      if (got.length < TOKEN_BYTES) return
      sock.off('data', onData)
      clearTimeout(timer)
      const key = got.subarray(0, TOKEN_BYTES).toString('hex')
      const link = this.offers.get(key)
      this.offers.delete(key)
      // Only the token, once: anything else is not a peer of ours.
      if (link == null || link.closed || got.length > TOKEN_BYTES) { sock.destroy(); return }
      // The dialler never writes again; reading on would only buffer what a broken peer sends.
      sock.pause()
      sock.setNoDelay(true)
      link.attachPlainOut(sock, (n) => { this.bytesSent += n })
    }
    sock.on('data', onData)
    sock.on('error', () => {})
    sock.on('close', () => { clearTimeout(timer) })
  }

  /** Dial the peer's offer on `link` and feed the PIECEs that come back to the link. */
  receive (link: Link, host: string, offer: PlainChunksOffer): void {
    if (link.closed) return
    const decoder = new PlainPieceDecoder(link.maxPiece)
    const sock = connect({
      host,
      port: offer.port,
      onread: {
        buffer: Buffer.allocUnsafe(READ_BUFFER),
        callback: (n: number, buf: Uint8Array): boolean => {
          try {
            for (const p of decoder.push(buf.subarray(0, n))) {
              this.bytesReceived += p.data.length
              link.deliverPiece(p.index, p.data)
            }
          } catch (err) {
            this.log(`plain chunks from ${link.peer}: ${(err as Error).message}`)
            sock.destroy()
            link.close(err as Error)
          }
          return true
        }
      }
    })
    this.track(sock)
    sock.setNoDelay(true)
    sock.on('connect', () => { sock.write(offer.token) })
    sock.on('error', (err) => { this.log(`plain chunks from ${link.peer} at ${host}:${offer.port}: ${err.message}; chunks keep coming over libp2p`) })
    link.signal.addEventListener('abort', () => { sock.destroy() }, { once: true })
  }

  private track (sock: Socket): void {
    this.sockets.add(sock)
    sock.once('close', () => { this.sockets.delete(sock) })
  }
}

/**
 * Cuts the byte stream into pieces, copying each into a buffer of its own
 * (the read buffer is reused for the next read). `maxPiece` bounds what a
 * peer can make us allocate.
 */
export class PlainPieceDecoder {
  private readonly header = Buffer.alloc(PIECE_HEADER)
  private headerGot = 0
  private piece?: { index: number, data: Uint8Array, got: number }

  constructor (private readonly maxPiece: number) {}

  push (bytes: Uint8Array): Array<{ index: number, data: Uint8Array }> {
    const out: Array<{ index: number, data: Uint8Array }> = []
    let off = 0
    while (off < bytes.length) {
      const p = this.piece
      if (p == null) {
        const take = Math.min(PIECE_HEADER - this.headerGot, bytes.length - off)
        this.header.set(bytes.subarray(off, off + take), this.headerGot)
        this.headerGot += take
        off += take
        if (this.headerGot < PIECE_HEADER) break
        this.headerGot = 0
        const index = this.header.readUInt32BE(0)
        const length = this.header.readUInt32BE(4)
        if (length > this.maxPiece) throw new Error(`peer sent a piece of ${length} bytes, over the chunk size ${this.maxPiece}`)
        this.piece = { index, data: Buffer.allocUnsafe(length), got: 0 }
        if (length === 0) { out.push({ index, data: this.piece.data }); this.piece = undefined }
        continue
      }
      const take = Math.min(p.data.length - p.got, bytes.length - off)
      p.data.set(bytes.subarray(off, off + take), p.got)
      p.got += take
      off += take
      if (p.got === p.data.length) {
        out.push({ index: p.index, data: p.data })
        this.piece = undefined
      }
    }
    return out
  }
}

export function encodePlainPieceHeader (index: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(PIECE_HEADER)
  h.writeUInt32BE(index, 0)
  h.writeUInt32BE(length, 4)
  return h
}

/**
 * libp2p's TLS handshake (/tls/1.0.0, https://github.com/libp2p/specs/blob/master/tls/tls.md)
 * with Node's TLS attached straight to the TCP socket.
 *
 * @libp2p/tls runs its TLSSocket over a JS Duplex fed by the connection's
 * message events, so every TCP read and every encrypted write crosses several
 * JS layers (net.Socket -> message event -> Duplex -> JSStreamSocket -> TLS)
 * before OpenSSL sees it. On a shaped 50 Mbit/s link reads carry a few KB
 * each: moving 64 MiB cost the receiver 0.48 s and the sender 0.37 s of CPU,
 * against 0.20 and 0.08 s for Node's TLS on a plain socket (BENCHMARKS.md).
 * Attached to the socket's handle, OpenSSL reads and writes the socket in C++
 * and JS sees only whole decrypted records.
 *
 * The certificate and its checks come from @libp2p/tls's public utilities, so
 * the handshake is the spec's and interoperates with any libp2p TLS peer. A
 * connection that is not a plain TCP socket (another transport, a connection
 * protector in between) goes to @libp2p/tls unchanged, except in a closed
 * swarm, where it is refused: the membership proof (swarm-key.ts) needs the
 * TLS session this module owns.
 */
import { InvalidCryptoExchangeError, TimeoutError } from '@libp2p/interface'
import type {
  ComponentLogger, ConnectionEncrypter, Logger, MessageStream, PeerId, PrivateKey, SecureConnectionOptions, SecuredConnection,
  StreamMuxerFactory, Upgrader
} from '@libp2p/interface'
import { tls as libp2pTls } from '@libp2p/tls'
import { generateCertificate, verifyPeerCertificate } from '@libp2p/tls/utils'
import { Socket } from 'node:net'
import { TLSSocket, connect, createSecureContext, type SecureContext } from 'node:tls'
import type { Uint8ArrayList } from 'uint8arraylist'
import { EXPORTER_LABEL, PROOF_BYTES, type Refusal, type SwarmKey } from './swarm-key.js'
import { TlsMessageStream } from './tls-message-stream.js'

export interface SocketTlsComponents {
  privateKey: PrivateKey
  logger: ComponentLogger
  upgrader: Upgrader
}

/** The parts of @libp2p/tcp's connection this module relies on; checked at run time. */
export interface TcpConnection extends MessageStream {
  socket: Socket
  readBuffer: Uint8ArrayList
}

/** ALPN name of a peer that does not negotiate the muxer inside the handshake (the spec's). */
const NO_EARLY_MUXER = 'libp2p'

export interface SocketTlsOptions {
  /** A closed swarm: a peer must prove it holds this key after the handshake, or the connection is refused. */
  swarmKey?: SwarmKey
  /** Told of every connection refused for want of the swarm key. */
  onRefused?: (refusal: Refusal) => void
}

export function socketTls (opts: SocketTlsOptions = {}): (components: SocketTlsComponents) => ConnectionEncrypter {
  return (components) => new SocketTls(components, opts)
}

/** Peer failed the closed swarm's membership check. */
export class NotInSwarmError extends InvalidCryptoExchangeError {
  constructor (message: string) {
    super(message)
    this.name = 'NotInSwarmError'
  }
}

class SocketTls implements ConnectionEncrypter {
  readonly protocol = '/tls/1.0.0'
  private readonly fallback: ConnectionEncrypter
  private readonly log: Logger
  /**
   * One certificate per process: the spec allows reuse, and generating one
   * (a P-256 key, a libp2p signature, X.509 in JS) for each of a host's
   * dozens of connections cost milliseconds each.
   */
  private context?: Promise<SecureContext>
  private readonly components: SocketTlsComponents
  private readonly opts: SocketTlsOptions

  constructor (components: SocketTlsComponents, opts: SocketTlsOptions) {
    this.components = components
    this.opts = opts
    this.fallback = libp2pTls()(components)
    this.log = components.logger.forComponent('imgp2p:socket-tls')
  }

  async secureInbound (connection: MessageStream, options?: SecureConnectionOptions): Promise<SecuredConnection> {
    if (!isTcpConnection(connection)) return await this.secureElsewhere(connection, true, options)
    return await this.secure(connection, true, options)
  }

  async secureOutbound (connection: MessageStream, options?: SecureConnectionOptions): Promise<SecuredConnection> {
    if (!isTcpConnection(connection)) return await this.secureElsewhere(connection, false, options)
    return await this.secure(connection, false, options)
  }

  private async secureElsewhere (connection: MessageStream, inbound: boolean, options?: SecureConnectionOptions): Promise<SecuredConnection> {
    if (this.opts.swarmKey !== undefined) {
      const err = new NotInSwarmError('a closed swarm (--swarm-key) runs only on plain TCP connections')
      connection.abort(err)
      throw err
    }
    return inbound ? await this.fallback.secureInbound(connection, options) : await this.fallback.secureOutbound(connection, options)
  }

  private async secureContext (options?: SecureConnectionOptions): Promise<SecureContext> {
    this.context ??= generateCertificate(this.components.privateKey, { signal: options?.signal })
      .then(({ key, cert }) => createSecureContext({ key, cert, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' }))
    try {
      return await this.context
    } catch (err) {
      this.context = undefined // an aborted first handshake must not poison the next
      throw err
    }
  }

  private async secure (connection: TcpConnection, isServer: boolean, options?: SecureConnectionOptions): Promise<SecuredConnection> {
    const secureContext = await this.secureContext(options)
    const muxers = options?.skipStreamMuxerNegotiation === true ? new Map<string, StreamMuxerFactory>() : this.components.upgrader.getStreamMuxers()
    let streamMuxer: StreamMuxerFactory | undefined
    const socket = takeOver(connection, (raw) => {
      const common = { secureContext, rejectUnauthorized: false, ALPNProtocols: [...muxers.keys(), NO_EARLY_MUXER] }
      if (!isServer) return connect({ ...common, socket: raw })
      return new TLSSocket(raw, {
        ...common,
        isServer: true,
        requestCert: true,
        ALPNCallback: ({ protocols }) => {
          // The first muxer the client offers that we run, else the spec's "no early muxer".
          for (const p of protocols) {
            const m = muxers.get(p)
            if (m != null) { streamMuxer = m; return p }
          }
          return protocols.includes(NO_EARLY_MUXER) ? NO_EARLY_MUXER : undefined
        }
      })
    })

    return await new Promise<SecuredConnection>((resolve, reject) => {
      const fail = (err: Error): void => {
        options?.signal?.removeEventListener('abort', onAbort)
        socket.destroy()
        connection.abort(err)
        reject(err)
      }
      const onAbort = (): void => { fail(new TimeoutError('TLS handshake aborted')) }
      options?.signal?.addEventListener('abort', onAbort, { once: true })
      socket.once('error', fail)
      // 'secure' on both sides, once the handshake is done (a client's 'secureConnect' would wait on CA checks we skip).
      socket.once('secure', () => {
        verifyPeerCertificate(socket.getPeerCertificate().raw, options?.remotePeer, this.log).then((remotePeer: PeerId) => {
          if (!isServer && typeof socket.alpnProtocol === 'string' && socket.alpnProtocol !== NO_EARLY_MUXER) {
            streamMuxer = muxers.get(socket.alpnProtocol)
            if (streamMuxer == null) throw new InvalidCryptoExchangeError(`peer chose muxer ${socket.alpnProtocol}, which we did not offer`)
          }
          return remotePeer
        }).then(async (remotePeer: PeerId) => {
          if (this.opts.swarmKey !== undefined) await this.checkMembership(socket, this.opts.swarmKey, isServer, remotePeer)
          options?.signal?.removeEventListener('abort', onAbort)
          socket.off('error', fail)
          // Errors after the handshake reach the connection through the message stream's own listener.
          resolve({ remotePeer, connection: new TlsMessageStream(connection, socket), streamMuxer })
        }).catch(fail)
      })
    })
  }

  /** Both sides prove the swarm key at once (one half round trip); see swarm-key.ts. */
  private async checkMembership (socket: TLSSocket, key: SwarmKey, isServer: boolean, peer: PeerId): Promise<void> {
    const channel = socket.exportKeyingMaterial(PROOF_BYTES, EXPORTER_LABEL, Buffer.alloc(0))
    socket.write(key.proof(isServer ? 'server' : 'client', channel))
    let reason: string | undefined
    try {
      const theirs = await readExactly(socket, PROOF_BYTES)
      if (!key.verify(isServer ? 'client' : 'server', channel, theirs)) reason = 'it does not hold this swarm\'s key'
    } catch (err) {
      reason = (err as Error).message
    }
    if (reason === undefined) return
    const refusal: Refusal = { peer: peer.toString(), addr: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`, inbound: isServer, reason }
    this.opts.onRefused?.(refusal)
    throw new NotInSwarmError(`refused ${refusal.peer} at ${refusal.addr}: ${reason}`)
  }
}

/**
 * The first `n` bytes the peer sent after the handshake. What follows stays
 * buffered in the socket for the message stream that reads it next.
 */
async function readExactly (socket: TLSSocket, n: number): Promise<Buffer> {
  return await new Promise((resolve, reject) => {
    const finish = (err: Error | undefined, buf?: Buffer): void => {
      socket.off('readable', onReadable)
      socket.off('end', onEnd)
      socket.off('close', onEnd)
      if (err !== undefined) reject(err)
      else resolve(buf as Buffer)
    }
    const onReadable = (): void => {
      const buf = socket.read(n) as Buffer | null
      if (buf !== null) finish(buf.byteLength === n ? undefined : new Error('it closed the connection without proving it holds the swarm key'), buf)
    }
    const onEnd = (): void => { finish(new Error('it closed the connection without proving it holds the swarm key')) }
    socket.on('readable', onReadable)
    socket.once('end', onEnd)
    socket.once('close', onEnd)
    onReadable()
  })
}

function isTcpConnection (c: MessageStream): c is TcpConnection {
  const x = c as Partial<TcpConnection>
  return x.socket instanceof Socket && !x.socket.destroyed && x.readBuffer != null && typeof x.readBuffer.consume === 'function'
}

/**
 * Hand the TCP socket to TLS: stop the connection reading it, give back the
 * bytes it already read (the peer's first handshake bytes may be among them;
 * a TLSSocket takes what sits in the socket's buffer first), and keep the
 * connection's inactivity timeout on the TLS socket, whose reads the raw
 * socket no longer sees.
 */
export function takeOver (connection: TcpConnection, wrap: (raw: Socket) => TLSSocket): TLSSocket {
  const raw = connection.socket
  connection.pause()
  raw.removeAllListeners('data')
  const early = [...connection.readBuffer]
  connection.readBuffer.consume(connection.readBuffer.byteLength)
  for (let i = early.length - 1; i >= 0; i--) raw.unshift(early[i])
  const idleMs = raw.timeout ?? 0
  raw.setTimeout(0)
  const socket = wrap(raw)
  if (idleMs > 0) {
    socket.setTimeout(idleMs)
    socket.once('timeout', () => { connection.abort(new TimeoutError('connection idle')) })
  }
  return socket
}

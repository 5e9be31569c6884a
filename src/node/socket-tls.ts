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
 * protector in between) goes to @libp2p/tls unchanged.
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

export function socketTls (): (components: SocketTlsComponents) => ConnectionEncrypter {
  return (components) => new SocketTls(components)
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

  constructor (private readonly components: SocketTlsComponents) {
    this.fallback = libp2pTls()(components)
    this.log = components.logger.forComponent('imgp2p:socket-tls')
  }

  async secureInbound (connection: MessageStream, options?: SecureConnectionOptions): Promise<SecuredConnection> {
    if (!isTcpConnection(connection)) return await this.fallback.secureInbound(connection, options)
    return await this.secure(connection, true, options)
  }

  async secureOutbound (connection: MessageStream, options?: SecureConnectionOptions): Promise<SecuredConnection> {
    if (!isTcpConnection(connection)) return await this.fallback.secureOutbound(connection, options)
    return await this.secure(connection, false, options)
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
          options?.signal?.removeEventListener('abort', onAbort)
          socket.off('error', fail)
          // Errors after the handshake reach the connection through the message stream's own listener.
          resolve({ remotePeer, connection: new TlsMessageStream(connection, socket), streamMuxer })
        }).catch(fail)
      })
    })
  }
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

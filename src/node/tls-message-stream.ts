/**
 * The secured connection libp2p's muxer runs on: a TLSSocket attached to the
 * TCP socket (socket-tls.ts) seen as a libp2p MessageStream.
 *
 * Why not @libp2p/tls's own adapter: it writes every buffer it is handed with
 * its own socket.write(), and Node's TLS turns each write into its own TLS
 * record. yamux hands over a 12-byte frame header and the frame's data as
 * separate buffers, and a window update or a HAVE is a frame of its own, so
 * a busy swarm link carried many records of a few bytes; the receiver pays a
 * decrypt and a trip through the JS stack per record. Here everything sent
 * in one tick is corked and leaves as one write: Node coalesces a corked
 * batch into one record (or a run of full ones). 16 hosts pulling 64 MiB on
 * shaped links: 1.72 -> 1.61 s of CPU per host, a sixth less kernel time
 * (BENCHMARKS.md, section 3).
 */
import { TimeoutError } from '@libp2p/interface'
import type { AbortOptions, MessageStream } from '@libp2p/interface'
import { AbstractMessageStream, type SendResult } from '@libp2p/utils'
import type { TLSSocket } from 'node:tls'
import type { Uint8ArrayList } from 'uint8arraylist'

export class TlsMessageStream extends AbstractMessageStream {
  private readonly socket: TLSSocket
  private readonly transport: MessageStream
  private corked = false
  private closing?: Promise<void>
  private readonly uncork = (): void => {
    this.corked = false
    this.socket.uncork()
  }

  constructor (transport: MessageStream, socket: TLSSocket) {
    super({
      log: transport.log,
      inactivityTimeout: transport.inactivityTimeout,
      maxReadBufferLength: transport.maxReadBufferLength,
      direction: transport.direction
    })
    this.socket = socket
    this.transport = transport
    if (socket.closed) this.closing = Promise.resolve()

    socket.on('data', (buf: Buffer) => { this.onData(buf) })
    socket.on('error', (err) => { transport.abort(err) })
    socket.on('close', () => {
      this.closing = transport.close().catch((err: Error) => { transport.abort(err) })
    })
    socket.on('drain', () => { this.safeDispatchEvent('drain') })
    transport.addEventListener('close', (evt) => {
      socket.destroy()
      // Keep the transport's reason: a local failure, a remote reset and a
      // clean close must reach the muxer as what they were.
      if (evt.error != null) {
        if (evt.local === true) this.abort(evt.error)
        else this.onRemoteReset()
      } else {
        this.onTransportClosed()
      }
    })
  }

  sendData (data: Uint8ArrayList): SendResult {
    if (!this.corked) {
      this.corked = true
      this.socket.cork()
      process.nextTick(this.uncork)
    }
    // Stop at the first write the socket buffers beyond its mark; the rest
    // waits in our write buffer for 'drain' (backpressure, not memory).
    let sentBytes = 0
    for (const buf of data) {
      sentBytes += buf.byteLength
      if (!this.socket.write(buf)) return { sentBytes, canSendMore: false }
    }
    return { sentBytes, canSendMore: true }
  }

  sendReset (err: Error): void {
    // A TLSSocket's handle is TLS, not TCP: resetAndDestroy() would throw.
    this.socket.destroy()
    this.transport.abort(err)
  }

  sendPause (): void { this.socket.pause() }

  sendResume (): void { this.socket.resume() }

  async close (options?: AbortOptions): Promise<void> {
    if (this.closing == null) {
      const closed = new Promise<void>((resolve, reject) => {
        const onAbort = (): void => { reject(new TimeoutError('closing the TLS connection timed out')) }
        options?.signal?.addEventListener('abort', onAbort, { once: true })
        this.socket.once('close', () => {
          options?.signal?.removeEventListener('abort', onAbort)
          resolve()
        })
      })
      this.socket.destroySoon()
      await closed
    }
    await this.closing
  }
}

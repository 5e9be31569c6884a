/**
 * A writer that keeps a libp2p 3 stream's send queue bounded.
 *
 * `stream.send()` never refuses data: it queues it and returns false. A
 * writer that only waits for one 'drain' queues a whole transfer in memory,
 * because yamux fires 'drain' on every window update (STACK-FACTS.md). So we
 * wait until the transport wants more AND our queue is under a byte bound.
 */
import type { Stream } from '@libp2p/interface'

export const DEFAULT_MAX_QUEUED_BYTES = 1024 * 1024

export class BoundedWriter {
  private chain: Promise<void> = Promise.resolve()

  constructor (private readonly stream: Stream, private readonly maxQueued = DEFAULT_MAX_QUEUED_BYTES) {}

  /**
   * Queue `parts` as one unit, after earlier writes, once there is room.
   * Parts are sent by reference: callers must not reuse them.
   */
  write (parts: Uint8Array[], signal?: AbortSignal): Promise<void> {
    const next = this.chain.then(async () => {
      await this.room(signal)
      for (const p of parts) this.stream.send(p)
    })
    // Later writes wait for this one but must not inherit its failure.
    this.chain = next.catch(() => {})
    return next
  }

  private pendingControl: Uint8Array[] = []
  private pendingBytes = 0

  /**
   * Send a small control frame without waiting for room: it must not queue
   * behind megabytes of PIECE data. Frames of one turn of the event loop go
   * out as one write; every write is a muxer frame, an encrypted record and
   * a syscall, and a chunk's arrival fans out into a HAVE per peer.
   */
  sendNow (frame: Uint8Array): void {
    if (this.pendingControl.length === 0) queueMicrotask(() => { this.flush() })
    this.pendingControl.push(frame)
    this.pendingBytes += frame.length
  }

  /** Send queued control frames now (before closing the stream, say). */
  flush (): void {
    const frames = this.pendingControl
    const total = this.pendingBytes
    this.pendingControl = []
    this.pendingBytes = 0
    if (this.stream.writeStatus !== 'writable' || frames.length === 0) return
    if (frames.length === 1) { this.stream.send(frames[0]); return }
    const out = new Uint8Array(total)
    let off = 0
    for (const f of frames) { out.set(f, off); off += f.length }
    this.stream.send(out)
  }

  private async room (signal?: AbortSignal): Promise<void> {
    const s = this.stream
    while (true) {
      if (s.writeStatus !== 'writable') throw new Error(`stream is ${s.writeStatus}`)
      signal?.throwIfAborted()
      if (!s.writableNeedsDrain && s.writeBufferLength < this.maxQueued) return
      await new Promise<void>((resolve, reject) => {
        const cleanup = (): void => {
          s.removeEventListener('drain', onReady)
          s.removeEventListener('idle', onReady)
          s.removeEventListener('close', onClose)
          signal?.removeEventListener('abort', onAbort)
        }
        const onReady = (): void => { cleanup(); resolve() }
        const onClose = (): void => { cleanup(); reject(new Error('stream closed while writing')) }
        const onAbort = (): void => { cleanup(); reject(signal?.reason ?? new Error('aborted')) }
        s.addEventListener('drain', onReady)
        s.addEventListener('idle', onReady)
        s.addEventListener('close', onClose)
        signal?.addEventListener('abort', onAbort)
      })
    }
  }
}

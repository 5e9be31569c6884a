/**
 * A writer that keeps a libp2p 3 stream's send queue bounded.
 *
 * `stream.send()` never refuses data: it queues it and returns false. A
 * writer that only waits for one 'drain' queues a whole transfer in memory,
 * because yamux fires 'drain' on every window update (STACK-FACTS.md). So we
 * wait until the transport wants more AND our queue is under a byte bound.
 */
import type { Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'

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
      // One send is one muxer frame, and each frame costs the receiver a trip
      // through the muxer: the parts go as one, after any control frames
      // still waiting (sendSoon), which need not wait any longer.
      const frames = this.takePending()
      if (frames.length === 0 && parts.length === 1) this.stream.send(parts[0])
      else this.stream.send(new Uint8ArrayList(...frames, ...parts))
    })
    // Later writes wait for this one but must not inherit its failure.
    this.chain = next.catch(() => {})
    return next
  }

  private pendingControl: Uint8Array[] = []
  /** A flush is queued for the end of this turn of the event loop. */
  private flushQueued = false
  /** A flush is timed for frames that may wait (sendSoon). */
  private flushTimer?: NodeJS.Timeout

  /**
   * Send a small control frame without waiting for room: it must not queue
   * behind megabytes of PIECE data. Frames of one turn of the event loop go
   * out as one write; every write is a muxer frame, an encrypted record and
   * a syscall, and a chunk's arrival fans out into a HAVE per peer.
   */
  sendNow (frame: Uint8Array): void {
    this.pendingControl.push(frame)
    if (this.flushQueued) return
    this.flushQueued = true
    queueMicrotask(() => { this.flush() })
  }

  /**
   * Send a control frame that may wait up to `withinMs`: it leaves with the
   * next frame sent at once, or with the others that waited, when the first
   * of them has waited that long.
   */
  sendSoon (frame: Uint8Array, withinMs: number): void {
    this.pendingControl.push(frame)
    if (this.flushQueued || this.flushTimer != null) return
    this.flushTimer = setTimeout(() => { this.flush() }, withinMs)
  }

  /** Send queued control frames now (before closing the stream, say). */
  flush (): void {
    const frames = this.takePending()
    if (this.stream.writeStatus !== 'writable' || frames.length === 0) return
    this.stream.send(frames.length === 1 ? frames[0] : new Uint8ArrayList(...frames))
  }

  /** The queued control frames, which the caller sends; nothing stays scheduled. */
  private takePending (): Uint8Array[] {
    this.flushQueued = false
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    const frames = this.pendingControl
    this.pendingControl = []
    return frames
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

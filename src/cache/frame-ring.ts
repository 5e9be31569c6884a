/**
 * Compressed frames of one image's chunks, kept on disk in a ring so a host
 * relays a chunk as it arrived instead of compressing it again.
 *
 * Why on disk: kept in memory (64 MiB per image) the frames counted towards
 * V8's heap limit, which the daemon lets grow to 4 x the live size between
 * collections (cli/daemon.ts): a host's peak RSS went from 168 to 431 MiB.
 * In a file they live in the page cache, which the kernel can take back.
 *
 * Written in order around the file; a new frame evicts the ones it
 * overwrites, the oldest. Writes run one at a time, and a frame is readable
 * only once its write finished; a read that raced an overwrite of its bytes
 * returns undefined, never someone else's bytes. The file is scratch: released
 * (removed) once the image has not been traded for a while, so a host that
 * holds many images keeps frames only for those in demand; any left by a
 * crash are removed when the daemon starts.
 */
import { mkdir, open, rm } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'

interface Slot {
  offset: number
  length: number
  ready: boolean
}

export class FrameRing {
  private readonly slots = new Map<number, Slot>()
  private head = 0
  private file?: Promise<FileHandle>
  /** Each file gets a name of its own: a release removes its file while a put may already open the next. */
  private generation = 0
  private writes: Promise<void> = Promise.resolve()
  private closed = false
  private lastUse = 0
  /** Bytes of frames readable now. */
  bytes = 0

  /** `path`: the file's name, less the generation suffix; `capacity`: its size at most. */
  constructor (private readonly path: string, readonly capacity: number) {}

  has (index: number): boolean { return this.slots.get(index)?.ready === true }

  /** Keep `frame` for chunk `index` (no-op if kept already or larger than the ring). */
  put (index: number, frame: Uint8Array): void {
    if (this.closed || this.slots.has(index) || frame.length > this.capacity || frame.length === 0) return
    this.lastUse = Date.now()
    if (this.head + frame.length > this.capacity) this.head = 0
    const slot: Slot = { offset: this.head, length: frame.length, ready: false }
    this.head += frame.length
    this.evictOverlapping(slot)
    this.slots.set(index, slot)
    const fh = this.handle()
    this.writes = this.writes.then(async () => {
      await (await fh).write(frame, 0, frame.length, slot.offset)
      if (this.slots.get(index) !== slot) return
      slot.ready = true
      this.bytes += slot.length
    }).catch(() => {
      // A frame that could not be written is not kept; the chunk is compressed again if asked for.
      if (this.slots.get(index) === slot) this.slots.delete(index)
    })
  }

  /** Stop keeping chunk `index`'s frame (a peer found it damaged). */
  drop (index: number): void {
    const s = this.slots.get(index)
    if (s == null) return
    this.slots.delete(index)
    if (s.ready) this.bytes -= s.length
  }

  /** Chunk `index`'s frame, or undefined if not kept (or overwritten while it was read). */
  async get (index: number): Promise<Uint8Array | undefined> {
    const slot = this.slots.get(index)
    if (slot?.ready !== true || this.file == null) return undefined
    this.lastUse = Date.now()
    const buf = Buffer.allocUnsafe(slot.length)
    try {
      const { bytesRead } = await (await this.file).read(buf, 0, slot.length, slot.offset)
      if (bytesRead !== slot.length) return undefined
    } catch {
      return undefined
    }
    return this.slots.get(index) === slot ? buf : undefined
  }

  /** Remove the file; later puts are ignored. */
  async close (): Promise<void> {
    this.closed = true
    await this.release()
  }

  /** Release the file if no frame was put or read for `idleMs`. */
  async releaseIdle (now: number, idleMs: number): Promise<void> {
    if (this.file != null && now - this.lastUse >= idleMs) await this.release()
  }

  /** Drop every frame and remove the file; a later put starts a new one. */
  async release (): Promise<void> {
    this.slots.clear()
    this.bytes = 0
    this.head = 0
    const fh = this.file
    if (fh == null) return
    const path = this.fileName()
    this.file = undefined
    this.generation++
    await this.writes
    await (await fh.catch(() => undefined))?.close().catch(() => {})
    await rm(path, { force: true }).catch(() => {})
  }

  /**
   * Drop every frame the new slot's bytes overlap. All are scanned, not just
   * the oldest: a wrap skips the file's tail, so the frames there can be
   * older than the ones overwritten at its start.
   */
  private evictOverlapping (slot: Slot): void {
    for (const [i, s] of this.slots) {
      if (s.offset >= slot.offset + slot.length || s.offset + s.length <= slot.offset) continue
      this.slots.delete(i)
      if (s.ready) this.bytes -= s.length
    }
  }

  private fileName (): string { return `${this.path}.${this.generation}` }

  private handle (): Promise<FileHandle> {
    if (this.file == null) {
      const name = this.fileName()
      this.file = (async () => {
        await mkdir(dirname(name), { recursive: true, mode: 0o700 })
        return await open(name, 'w+', 0o600)
      })()
      // A file that cannot be opened fails its puts (not kept) and is retried by the next release.
      this.file.catch(() => {})
    }
    return this.file
  }
}

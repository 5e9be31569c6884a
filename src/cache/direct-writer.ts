/**
 * Chunk writes that bypass the page cache (O_DIRECT) where the file system
 * allows, through the page cache where it does not.
 *
 * Why: a pull with `--out` writes every chunk twice, into the cache and into
 * the output. With 16 hosts on the cluster bench, the kernel's copies into
 * the page cache were a fifth of the machine's CPU (perf:
 * copy_folio_from_iter_atomic under pwritev). A direct write hands the
 * buffer to the device instead.
 *
 * O_DIRECT wants the buffer, the length and the file offset aligned to the
 * device's logical block. Node has no aligned allocation, but WebAssembly
 * memory is page-aligned, so the slab is one; offsets are multiples of the
 * chunk size, and the last chunk's tail is padded with zeros (the owner
 * truncates the file to its size at the end). Chunks are copied into the
 * slab's slots: a copy into cache-warm memory, cheaper than the kernel's
 * into fresh page-cache pages. A file system that opens with O_DIRECT but
 * refuses the writes answers EINVAL, and the owner goes on buffered.
 */
import { constants } from 'node:fs'
import { writeAll, type Bytes, type ChunkFile, type OpenFile } from './files.js'

/** Largest logical block we align for; 512-byte devices accept it too. */
export const DIRECT_ALIGN = 4096
/** Writes in flight per output; more wait for a slot (backpressure, bounded memory). */
const SLOTS = 8

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to
const WASM_PAGE = 65536
// Not in this project's type libraries; present in every Node this runs on.
const { WebAssembly } = globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } }

/** Page-aligned memory, or undefined where there is no address space for it (ulimit -v). */
function alignedSlab (bytes: number): Buffer | undefined {
  try {
    return Buffer.from(new WebAssembly.Memory({ initial: Math.ceil(bytes / WASM_PAGE) }).buffer)
  } catch {
    return undefined
  }
}

export class DirectWriter {
  private readonly fh: ChunkFile
  private readonly slab: Buffer
  private readonly slotBytes: number
  private readonly free: number[] = []
  private readonly waiting: Array<(slot: number) => void> = []

  private constructor (fh: ChunkFile, slab: Buffer, slotBytes: number) {
    this.fh = fh
    this.slab = slab
    this.slotBytes = slotBytes
    for (let i = SLOTS - 1; i >= 0; i--) this.free.push(i)
  }

  /**
   * Open `path` for direct writes of up to `maxWrite` bytes at offsets
   * aligned to DIRECT_ALIGN; undefined where the file system refuses
   * O_DIRECT or no aligned memory can be had.
   */
  static async open (path: string, maxWrite: number, open: OpenFile): Promise<DirectWriter | undefined> {
    const slotBytes = roundUp(maxWrite, DIRECT_ALIGN)
    const slab = alignedSlab(SLOTS * slotBytes)
    if (slab === undefined) return undefined
    try {
      return new DirectWriter(await open(path, constants.O_WRONLY | constants.O_DIRECT), slab, slotBytes)
    } catch {
      return undefined // EINVAL on tmpfs and some FUSE file systems: stay buffered
    }
  }

  /** Write `bytes` at `position` (aligned), padded with zeros to a whole block. */
  async write (bytes: Bytes, position: number): Promise<void> {
    const parts = bytes instanceof Uint8Array ? [bytes] : bytes
    let length = 0
    for (const p of parts) length += p.length
    const padded = roundUp(length, DIRECT_ALIGN)
    if (padded > this.slotBytes || position % DIRECT_ALIGN !== 0) {
      throw new RangeError(`direct write of ${length} bytes at ${position} does not fit the ${this.slotBytes}-byte aligned slots`)
    }
    const slot = await this.acquire()
    try {
      const start = slot * this.slotBytes
      let at = start
      for (const p of parts) { this.slab.set(p, at); at += p.length }
      this.slab.fill(0, at, start + padded)
      let done = 0
      while (done < padded) {
        const { bytesWritten } = await this.fh.write(this.slab, start + done, padded - done, position + done)
        if (bytesWritten === 0 || bytesWritten % DIRECT_ALIGN !== 0) throw new Error(`short direct write (${bytesWritten} of ${padded - done} bytes)`)
        done += bytesWritten
      }
    } finally {
      this.release(slot)
    }
  }

  async close (): Promise<void> {
    await this.fh.close()
  }

  private async acquire (): Promise<number> {
    const slot = this.free.pop()
    if (slot !== undefined) return slot
    return await new Promise<number>(resolve => { this.waiting.push(resolve) })
  }

  private release (slot: number): void {
    const next = this.waiting.shift()
    if (next !== undefined) next(slot)
    else this.free.push(slot)
  }
}

/**
 * Writes whole chunks (at multiples of the chunk size) to a file: direct
 * where it can, else through `buffered`, the caller's ordinary handle to the
 * same file. Direct writes pad the last chunk to a block; finish() cuts the
 * file back to its size.
 */
export class ChunkWriter {
  private direct?: DirectWriter
  /** Kept after a fallback: writes on it may be in flight, and the file needs its final truncate. */
  private readonly directHandle?: DirectWriter
  private readonly buffered: ChunkFile

  private constructor (buffered: ChunkFile, direct?: DirectWriter) {
    this.buffered = buffered
    this.direct = direct
    this.directHandle = direct
  }

  /** Never rejects: where direct I/O cannot be had, every write goes through `buffered`. */
  static async open (path: string, buffered: ChunkFile, chunkSize: number | undefined, open: OpenFile): Promise<ChunkWriter> {
    const direct = chunkSize !== undefined && chunkSize > 0 && chunkSize % DIRECT_ALIGN === 0
      ? await DirectWriter.open(path, chunkSize, open)
      : undefined
    return new ChunkWriter(buffered, direct)
  }

  /** Whether chunks go past the page cache (for tests and logs). */
  get directIO (): boolean { return this.direct !== undefined }

  async write (bytes: Bytes, position: number): Promise<void> {
    if (this.direct !== undefined) {
      try {
        await this.direct.write(bytes, position)
        return
      } catch (err) {
        // A file system that took O_DIRECT at open but refuses this write
        // (alignment rules of its own): the rest goes through the page cache.
        if (!(err instanceof RangeError) && (err as NodeJS.ErrnoException).code !== 'EINVAL') throw err
        this.direct = undefined
      }
    }
    await writeAll(this.buffered, bytes, position)
  }

  /** Cut the padding of a direct write of the last chunk (call once every write has settled). */
  async finish (size: number): Promise<void> {
    if (this.directHandle !== undefined) await this.buffered.truncate(size)
  }

  /** Close the direct handle (the caller closes its own). */
  async close (): Promise<void> {
    await this.directHandle?.close()
  }
}

/**
 * Positioned writes that bypass the page cache (O_DIRECT), for the user's
 * output file.
 *
 * Why: a pull with `--out` writes every chunk twice, into the cache (read
 * again when serving peers, so it stays buffered) and into the output (the
 * VM's disk, which imgp2p never reads again). With 16 hosts on the cluster
 * bench, the kernel's copies into the page cache were a fifth of the
 * machine's CPU (perf: copy_folio_from_iter_atomic under pwritev). A direct
 * write hands the buffer to the device instead.
 *
 * O_DIRECT wants the buffer, the length and the file offset aligned to the
 * device's logical block. Node has no aligned allocation; a WebAssembly
 * memory is page-aligned, so the slab is one. A block write at offset 0 of
 * the fresh, empty file checks that the file system takes direct writes
 * (and, should the slab not be aligned after all, finds an aligned start:
 * EINVAL until it is); the file is then cut back to empty.
 * Chunks are copied into the slab's slots (a copy into cache-warm memory,
 * cheaper than the kernel's into fresh page-cache pages) and the last
 * chunk's tail is padded with zeros; the owner truncates the file to its
 * size at the end.
 */
import { constants } from 'node:fs'
import type { Bytes, ChunkFile, OpenFile } from './files.js'

/** Largest logical block we align for; 512-byte devices accept it too. */
export const DIRECT_ALIGN = 4096
/** Writes in flight per output; more wait for a slot (backpressure, bounded memory). */
const SLOTS = 8
// Candidate starts for the probe: glibc gives 16-byte aligned memory.
const PROBE_STEP = 16

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to
const WASM_PAGE = 65536
// Not in this project's type libraries; present in every Node this runs on.
const { WebAssembly } = globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } }

/** Zeroed memory, page-aligned where WebAssembly memory can be had (else the probe finds a start). */
function alignedSlab (bytes: number): Buffer {
  try {
    return Buffer.from(new WebAssembly.Memory({ initial: Math.ceil(bytes / WASM_PAGE) }).buffer)
  } catch {
    return Buffer.alloc(bytes) // no address space for it (ulimit -v): unaligned, the probe copes
  }
}

export class DirectWriter {
  private readonly fh: ChunkFile
  private readonly slab: Buffer
  private readonly base: number
  private readonly slotBytes: number
  private readonly free: number[] = []
  private readonly waiting: Array<(slot: number) => void> = []

  private constructor (fh: ChunkFile, slab: Buffer, base: number, slotBytes: number) {
    this.fh = fh
    this.slab = slab
    this.base = base
    this.slotBytes = slotBytes
    for (let i = SLOTS - 1; i >= 0; i--) this.free.push(i)
  }

  /**
   * Open `path` (created and empty already) for direct writes of up to
   * `maxWrite` bytes at offsets aligned to DIRECT_ALIGN; undefined when the
   * file system refuses O_DIRECT or no aligned start is found. Leaves the
   * file empty either way.
   */
  static async open (path: string, maxWrite: number, open: OpenFile): Promise<DirectWriter | undefined> {
    let fh: ChunkFile
    try {
      fh = await open(path, constants.O_WRONLY | constants.O_DIRECT)
    } catch {
      return undefined // EINVAL on tmpfs and some FUSE file systems: stay buffered
    }
    const slotBytes = roundUp(maxWrite, DIRECT_ALIGN)
    const slab = alignedSlab(SLOTS * slotBytes + DIRECT_ALIGN)
    try {
      for (let start = 0; start < DIRECT_ALIGN; start += PROBE_STEP) {
        try {
          await fh.write(slab, start, DIRECT_ALIGN, 0)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EINVAL') continue
          throw err
        }
        await fh.truncate(0)
        return new DirectWriter(fh, slab, start, slotBytes)
      }
    } catch {
      // ENOSPC, EIO...: the buffered path reports them with the user's context
    }
    await fh.truncate(0).catch(() => {})
    await fh.close().catch(() => {})
    return undefined
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
      const start = this.base + slot * this.slotBytes
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

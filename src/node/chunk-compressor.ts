/**
 * Chunks on the wire, zstd-compressed when that pays.
 *
 * Why: at a host's link rate its CPU is its receive path, paid per byte on the
 * wire (bench/cluster/FINDINGS.md, session 13 B), and the link's time is per
 * byte too. VM images hold text, binaries and metadata that compress; a chunk
 * that shrinks costs less to send, to receive, and to wait for. The CID still
 * names the uncompressed bytes: the receiver decompresses, bounded by the
 * chunk's size, and verifies as always.
 *
 * A random chunk does not shrink: a 16 KiB probe says so in ~80 us (a whole
 * 256 KiB chunk would take ~0.8 ms). After a run of misses only every
 * PROBE_EVERY-th chunk is probed, so an image of random data costs each of its
 * uploaders a few ms in all.
 */
import { type ZstdCompress, constants, createZstdCompress, zstdCompressSync, zstdDecompressSync } from 'node:zlib'
import type { FrameRing } from '../cache/frame-ring.js'

const LEVEL = 1
const PROBE_BYTES = 16 * 1024
/** Sent compressed only when that saves at least this fraction of the chunk. */
const MIN_SAVING = 0.1
/** Consecutive incompressible chunks after which probing backs off... */
const MISSES_BEFORE_BACKOFF = 8
/** ...to one chunk in this many, until one compresses again. */
const PROBE_EVERY = 16
/**
 * Compressed frames kept per image (on disk: cache/frame-ring.ts), so a chunk
 * is compressed once, where it enters, and relayed as it arrived: compressing
 * on every transfer made a 16-host swarm of a text image spend more CPU on
 * zstd than it saved (bench/cluster/FINDINGS.md session 13 G). Most relays
 * of a chunk follow its arrival closely, so the oldest go first.
 */
export const FRAME_RING_BYTES = 256 * 1024 * 1024
/** An image nobody traded for this long gives its frames' file back. */
export const FRAME_RING_IDLE_MS = 60_000

const params = { params: { [constants.ZSTD_c_compressionLevel]: LEVEL } }

/**
 * One zstd context for many chunks, each ended as a frame of its own (any
 * frame inflates alone). A context per chunk, as zlib's one-shot calls make,
 * allocated and freed ~2 MiB each time: with 17 daemons on two cores the
 * kernel zeroing those pages was the largest single cost of a 16-host pull of
 * a text image (bench/cluster/FINDINGS.md session 13 G).
 */
class FrameEncoder {
  private readonly stream: ZstdCompress
  private out: Buffer[] = []
  private tail: Promise<unknown> = Promise.resolve()
  private failed?: Error

  constructor () {
    this.stream = createZstdCompress({ ...params, chunkSize: 256 * 1024 })
    this.stream.on('data', (b: Buffer) => { this.out.push(b) })
    this.stream.on('error', (err) => { this.failed = err })
  }

  /** Compress `data` as one frame; calls queue, one at a time. */
  async frame (data: Uint8Array): Promise<Buffer> {
    const run = this.tail.then(async () => {
      if (this.failed != null) throw this.failed
      this.stream.write(data)
      await new Promise<void>((resolve, reject) => {
        this.stream.flush(constants.ZSTD_e_end, () => { if (this.failed != null) reject(this.failed); else resolve() })
      })
      const frame = Buffer.concat(this.out)
      this.out = []
      return frame
    })
    this.tail = run.catch(() => {})
    return await run
  }

  close (): void { this.stream.destroy() }
}

/** One image's uploads: remembers whether its chunks have been compressing, and keeps their frames. */
export class ChunkCompressor {
  private misses = 0
  private skipped = 0
  private encoder?: FrameEncoder
  /** Chunks sent compressed, and the bytes that saved. */
  compressed = 0
  savedBytes = 0
  /** Chunks found not to shrink: not probed again. */
  private readonly plain = new Set<number>()

  /**
   * The host's CPU has room for compression (policy/compression-gate.ts):
   * while false we take chunks as they are and compress nothing new; frames
   * already kept still go out, since they cost nothing more to send.
   */
  room: boolean

  /** `frames`: where compressed frames are kept to be relayed (none: every send compresses afresh). */
  constructor (private readonly frames?: FrameRing, room = true) {
    this.room = room
  }

  /** Chunk `index`'s frame as it was compressed or arrived, if still kept. */
  async keptFrame (index: number): Promise<Uint8Array | undefined> {
    return this.frames?.has(index) === true ? await this.frames.get(index) : undefined
  }

  /** Chunk `index`'s compressed bytes, or undefined to send it as it is. */
  async encode (index: number, data: Uint8Array): Promise<Uint8Array | undefined> {
    if (!this.room || this.plain.has(index)) return undefined
    if (this.misses >= MISSES_BEFORE_BACKOFF && ++this.skipped % PROBE_EVERY !== 0) return undefined
    const limit = data.length * (1 - MIN_SAVING)
    if (data.length > PROBE_BYTES) {
      const probe = zstdCompressSync(data.subarray(0, PROBE_BYTES), params)
      if (probe.length > PROBE_BYTES * (1 - MIN_SAVING)) return this.miss(index)
    }
    let out: Buffer
    try {
      out = await (this.encoder ??= new FrameEncoder()).frame(data)
    } catch {
      // A broken context is dropped; the chunk goes as it is.
      this.encoder?.close()
      this.encoder = undefined
      return undefined
    }
    if (out.length > limit) return this.miss(index)
    this.misses = 0
    this.skipped = 0
    this.compressed++
    this.savedBytes += data.length - out.length
    this.frames?.put(index, out)
    return out
  }

  /** Keep a verified chunk's frame as it arrived, to relay it without compressing it again. */
  remember (index: number, frame: Uint8Array): void {
    this.frames?.put(index, frame)
  }

  /** Relay no kept frame of chunk `index` again: the next send compresses it afresh from disk. */
  forget (index: number): void {
    this.frames?.drop(index)
  }

  /** Timer work: an image nobody trades gives its frames' file back. */
  tick (now: number): void {
    void this.frames?.releaseIdle(now, FRAME_RING_IDLE_MS)
  }

  /** Frees the zstd context and the frames' file (the image's uploads are over). */
  close (): void {
    this.encoder?.close()
    this.encoder = undefined
    void this.frames?.close()
  }

  private miss (index: number): undefined {
    this.misses++
    this.plain.add(index)
    return undefined
  }
}

/** Thrown for a PIECE_ZSTD that does not decompress to at most `maxBytes`. */
export class BadCompressedChunkError extends Error {}

/**
 * Decompress a PIECE_ZSTD's payload; a peer cannot make us inflate more than
 * `maxBytes`. Synchronous: zlib's thread-pool call cost 1.15 against 0.80-0.92
 * ms of CPU per 512 KiB chunk of a disk image, and the pool adds no core on a
 * host whose cores are busy receiving.
 */
export function decompressChunk (parts: Uint8Array[], maxBytes: number): Uint8Array {
  const input = parts.length === 1 ? parts[0] : Buffer.concat(parts)
  try {
    return zstdDecompressSync(input, { maxOutputLength: maxBytes, chunkSize: maxBytes })
  } catch (err) {
    throw new BadCompressedChunkError(`compressed chunk does not inflate to at most ${maxBytes} bytes: ${(err as Error).message}`)
  }
}

/**
 * Split a file into chunks and hash them, streaming: memory stays at two
 * chunk-sized buffers whatever the file size.
 */
import { open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import type { CID } from 'multiformats/cid'
import { chunkCid } from './cid.js'
import { chunkSizeFor } from './constants.js'
import { encodeManifest, manifestCid } from './manifest.js'
import type { Manifest } from './manifest.js'

export interface ChunkFileOptions {
  chunkSize?: number
  signal?: AbortSignal
  /**
   * Called with each chunk in order, awaited before the next is handed out.
   * `bytes` is a view of a reused buffer: it is valid only until the returned
   * promise resolves. Copy it to keep it.
   */
  onChunk?: (index: number, bytes: Uint8Array, cid: CID) => void | Promise<void>
  onProgress?: (bytesDone: number, totalBytes: number) => void
}

export interface ChunkFileResult {
  manifest: Manifest
  /** The image CID (CID of the encoded manifest). */
  cid: CID
  /** The encoded manifest, whose hash `cid` is. */
  bytes: Uint8Array
}

/**
 * Chunk and hash the file at `path`. The size is what is read up to EOF, and
 * the file must not change size while it is read (checked at the end).
 */
export async function chunkFile (path: string, options: ChunkFileOptions = {}): Promise<ChunkFileResult> {
  const fh = await open(path, 'r')
  try {
    return await chunkHandle(fh, options)
  } finally {
    await fh.close()
  }
}

/** As chunkFile, over an open handle (read from offset 0). */
export async function chunkHandle (fh: FileHandle, options: ChunkFileOptions = {}): Promise<ChunkFileResult> {
  const total = (await fh.stat()).size
  const chunkSize = options.chunkSize ?? chunkSizeFor(total)
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`)
  const { signal } = options
  signal?.throwIfAborted()
  // Two buffers so the read of chunk i+1 overlaps hashing and onChunk of chunk i.
  const bufs = [Buffer.allocUnsafe(chunkSize), Buffer.allocUnsafe(chunkSize)]
  const chunks: CID[] = []
  let offset = 0
  let pending = readFull(fh, bufs[0], offset)
  try {
    for (let i = 0; ; i++) {
      const n = await pending
      if (n === 0) break
      signal?.throwIfAborted()
      const bytes = bufs[i & 1].subarray(0, n)
      offset += n
      // A short read is EOF; don't ask again.
      pending = n < chunkSize ? Promise.resolve(0) : readFull(fh, bufs[(i + 1) & 1], offset)
      const cid = chunkCid(bytes)
      chunks.push(cid)
      await options.onChunk?.(i, bytes, cid)
      options.onProgress?.(offset, total)
    }
  } catch (err) {
    // Don't leave a read racing the caller's cleanup (or an unhandled rejection).
    await pending.catch(() => {})
    throw err
  }
  if ((await fh.stat()).size !== offset) throw new Error(`file changed size while it was read (${total} -> ${offset} bytes)`)
  const manifest: Manifest = { version: 1, size: offset, chunkSize, chunks }
  const bytes = encodeManifest(manifest)
  return { manifest, cid: manifestCid(bytes), bytes }
}

/** Read until `buf` is full or EOF; returns the number of bytes read. */
async function readFull (fh: FileHandle, buf: Buffer, position: number): Promise<number> {
  let got = 0
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, position + got)
    if (bytesRead === 0) break
    got += bytesRead
  }
  return got
}

/**
 * Small file helpers the cache needs: full positioned writes and reads,
 * atomic replacement, directory fsync. Every failure goes through fsError so
 * ENOSPC becomes DiskFullError.
 */
import { randomBytes } from 'node:crypto'
import { open, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { fsError } from '../errors.js'

/** The parts of a FileHandle the cache uses; a test can wrap one to inject faults. */
export interface ChunkFile {
  write (buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>
  /** Optional gather write; without it, parts are written one by one. */
  writev? (buffers: Uint8Array[], position: number): Promise<{ bytesWritten: number }>
  read (buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>
  truncate (len?: number): Promise<void>
  datasync (): Promise<void>
  sync (): Promise<void>
  close (): Promise<void>
}

export type OpenFile = (path: string, flags: string | number, mode?: number) => Promise<ChunkFile>

export const openFile: OpenFile = async (path, flags, mode) => await open(path, flags, mode)

/**
 * Bytes as one buffer or as the parts they arrived in from the network:
 * a chunk is hashed and written from its parts, never gathered into a copy.
 */
export type Bytes = Uint8Array | readonly Uint8Array[]

export function byteLength (b: Bytes): number {
  if (b instanceof Uint8Array) return b.length
  let n = 0
  for (const p of b) n += p.length
  return n
}

/** Write all of `bytes` at `position` (a positioned write may be short). */
export async function writeAll (fh: ChunkFile, bytes: Bytes, position: number): Promise<void> {
  if (!(bytes instanceof Uint8Array)) {
    await writeParts(fh, bytes, position)
    return
  }
  let done = 0
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done)
    done += bytesWritten
  }
}

async function writeParts (fh: ChunkFile, parts: readonly Uint8Array[], position: number): Promise<void> {
  let rest = parts.filter(p => p.length > 0)
  let pos = position
  while (rest.length > 0) {
    if (fh.writev == null || rest.length === 1) {
      for (const p of rest) { await writeAll(fh, p, pos); pos += p.length }
      return
    }
    let { bytesWritten } = await fh.writev(rest.slice(), pos)
    pos += bytesWritten
    // A short gather write: drop what went out and go on with the rest.
    const left: Uint8Array[] = []
    for (const p of rest) {
      if (bytesWritten >= p.length) { bytesWritten -= p.length; continue }
      left.push(bytesWritten > 0 ? p.subarray(bytesWritten) : p)
      bytesWritten = 0
    }
    rest = left
  }
}

/** Read exactly `length` bytes at `position`; a short file is an error here, not EOF. */
export async function readExactly (fh: ChunkFile, length: number, position: number, into?: Uint8Array): Promise<Uint8Array> {
  // Not zero-filled: every byte is overwritten by the read or we throw.
  const buf = into != null ? into.subarray(0, length) : Buffer.allocUnsafeSlow(length)
  let done = 0
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done)
    if (bytesRead === 0) throw new Error(`short read: wanted ${length} bytes at ${position}, file ended after ${done}`)
    done += bytesRead
  }
  return buf
}

/** fsync a directory so a rename in it survives a power cut. */
export async function syncDir (dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try { await fh.sync() } finally { await fh.close() }
}

/** Replace `path` with `bytes` so a reader sees the old or the new content, never a mix. */
export async function writeFileAtomic (path: string, bytes: Uint8Array, what: string, open: OpenFile = openFile): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`)
  try {
    const fh = await open(tmp, 'w', 0o644)
    try {
      await writeAll(fh, bytes, 0)
      await fh.datasync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true })
    throw fsError(err, what)
  }
}

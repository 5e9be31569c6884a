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
  read (buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>
  truncate (len?: number): Promise<void>
  datasync (): Promise<void>
  sync (): Promise<void>
  close (): Promise<void>
}

export type OpenFile = (path: string, flags: string | number, mode?: number) => Promise<ChunkFile>

export const openFile: OpenFile = async (path, flags, mode) => await open(path, flags, mode)

/** Write all of `bytes` at `position` (a positioned write may be short). */
export async function writeAll (fh: ChunkFile, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done)
    done += bytesWritten
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

/**
 * The user's destination file, filled as chunks arrive so no copy is needed
 * after the download. Written as `path + '.imgp2p-part'` and renamed to `path`
 * only when complete, so `path` never holds a partial image.
 */
import { constants as fsConstants } from 'node:fs'
import { access, rename, rm, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { OutputNotWritableError, fsError } from '../errors.js'
import { DIRECT_ALIGN, DirectWriter } from './direct-writer.js'
import { writeAll, type Bytes } from './files.js'
import type { ChunkFile, OpenFile } from './files.js'

export const OUTPUT_SUFFIX = '.imgp2p-part'

// Errors a user fixes by choosing another path or fixing permissions.
const NOT_WRITABLE = new Set(['EACCES', 'EPERM', 'ENOENT', 'ENOTDIR', 'EISDIR', 'EROFS'])

export function outputError (err: unknown, path: string, what: string): Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code != null && NOT_WRITABLE.has(code)) return new OutputNotWritableError(`cannot write the output ${path} (${code}): check the directory exists and is writable`, { cause: err })
  return fsError(err, `${what} ${path}`)
}

export interface OutputOptions {
  /**
   * Every write is one chunk at a multiple of this size: when it is a whole
   * number of blocks, chunks go to the file by direct I/O where the file
   * system allows (see direct-writer.ts), else through the page cache.
   */
  chunkSize?: number
}

export class OutputFile {
  readonly path: string
  readonly tmpPath: string
  private readonly fh: ChunkFile
  private readonly size: number
  private direct?: DirectWriter
  /** The direct handle, kept open after a fallback until the writes on it have settled. */
  private directHandle?: DirectWriter
  private constructor (path: string, fh: ChunkFile, size: number) {
    this.fh = fh
    this.path = path
    this.tmpPath = path + OUTPUT_SUFFIX
    this.size = size
  }

  /** Create the temp file beside `path`, sparse, of `size` bytes. */
  static async create (path: string, size: number, open: OpenFile, options: OutputOptions = {}): Promise<OutputFile> {
    let fh: ChunkFile
    try {
      fh = await open(path + OUTPUT_SUFFIX, 'w', 0o644)
    } catch (err) {
      throw outputError(err, path, 'creating')
    }
    const out = new OutputFile(path, fh, size)
    try {
      const cs = options.chunkSize
      if (cs !== undefined && cs > 0 && cs % DIRECT_ALIGN === 0) {
        out.direct = await DirectWriter.open(out.tmpPath, cs, open)
        out.directHandle = out.direct
      }
      await fh.truncate(size)
    } catch (err) {
      await out.discard()
      throw outputError(err, path, 'sizing')
    }
    return out
  }

  /** Whether chunks are written past the page cache (for tests and logs). */
  get directIO (): boolean { return this.direct !== undefined }

  async write (bytes: Bytes, position: number): Promise<void> {
    try {
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
      await writeAll(this.fh, bytes, position)
    } catch (err) {
      throw outputError(err, this.path, 'writing')
    }
  }

  /** Sync and rename into place. */
  async commit (): Promise<void> {
    try {
      // Direct writes pad the last chunk to a whole block.
      if (this.directHandle !== undefined) await this.fh.truncate(this.size)
      await this.fh.sync()
      await this.directHandle?.close()
      await this.fh.close()
      await rename(this.tmpPath, this.path)
    } catch (err) {
      throw outputError(err, this.path, 'finishing')
    }
  }

  /** Close and delete the temp file (an abandoned pull leaves nothing beside `path`). */
  async discard (): Promise<void> {
    await this.directHandle?.close().catch(() => {})
    await this.fh.close().catch(() => {})
    await rm(this.tmpPath, { force: true })
  }
}

/** Fail before any transfer when `--out` cannot be created. */
export async function checkOutputPath (out: string): Promise<void> {
  try {
    await access(dirname(out), fsConstants.W_OK)
    const s = await stat(out).catch(() => undefined)
    if (s?.isDirectory() === true) throw new OutputNotWritableError(`--out ${out} is a directory; give a file path`)
  } catch (err) {
    if (err instanceof OutputNotWritableError) throw err
    throw new OutputNotWritableError(`cannot write --out ${out}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'directory does not exist' : 'permission denied'}`)
  }
}

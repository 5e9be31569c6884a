/**
 * The user's destination file, filled as chunks arrive so no copy is needed
 * after the download. Written as `path + '.imgp2p-part'` and renamed to `path`
 * only when complete, so `path` never holds a partial image.
 */
import { constants as fsConstants } from 'node:fs'
import { access, rename, rm, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { OutputNotWritableError, fsError } from '../errors.js'
import { ChunkWriter } from './direct-writer.js'
import type { Bytes } from './files.js'
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
  private readonly writer: ChunkWriter
  private constructor (path: string, fh: ChunkFile, size: number, writer: ChunkWriter) {
    this.fh = fh
    this.path = path
    this.tmpPath = path + OUTPUT_SUFFIX
    this.size = size
    this.writer = writer
  }

  /** Create the temp file beside `path`, sparse, of `size` bytes. */
  static async create (path: string, size: number, open: OpenFile, options: OutputOptions = {}): Promise<OutputFile> {
    const tmpPath = path + OUTPUT_SUFFIX
    let fh: ChunkFile
    try {
      fh = await open(tmpPath, 'w', 0o644)
    } catch (err) {
      throw outputError(err, path, 'creating')
    }
    // Opened beside the truncate: every await at the start of a pull waits its turn for a core.
    const opening = ChunkWriter.open(tmpPath, fh, options.chunkSize, open) // settles, never throws
    try {
      await fh.truncate(size)
    } catch (err) {
      await (await opening).close().catch(() => {})
      await fh.close().catch(() => {})
      await rm(tmpPath, { force: true })
      throw outputError(err, path, 'sizing')
    }
    return new OutputFile(path, fh, size, await opening)
  }

  /** Whether chunks are written past the page cache (for tests and logs). */
  get directIO (): boolean { return this.writer.directIO }

  async write (bytes: Bytes, position: number): Promise<void> {
    try {
      await this.writer.write(bytes, position)
    } catch (err) {
      throw outputError(err, this.path, 'writing')
    }
  }

  /** Sync and rename into place. */
  async commit (): Promise<void> {
    try {
      await this.writer.finish(this.size)
      await this.fh.sync()
      await this.writer.close()
      await this.fh.close()
      await rename(this.tmpPath, this.path)
    } catch (err) {
      throw outputError(err, this.path, 'finishing')
    }
  }

  /** Close and delete the temp file (an abandoned pull leaves nothing beside `path`). */
  async discard (): Promise<void> {
    await this.writer.close().catch(() => {})
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

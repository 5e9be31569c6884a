/**
 * The user's destination file, filled as chunks arrive so no copy is needed
 * after the download. Written as `path + '.imgp2p-part'` and renamed to `path`
 * only when complete, so `path` never holds a partial image.
 */
import { constants as fsConstants } from 'node:fs'
import { access, rename, rm, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { OutputNotWritableError, fsError } from '../errors.js'
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

export class OutputFile {
  readonly path: string
  readonly tmpPath: string
  private readonly fh: ChunkFile
  private constructor (path: string, fh: ChunkFile) {
    this.fh = fh
    this.path = path
    this.tmpPath = path + OUTPUT_SUFFIX
  }

  /** Create the temp file beside `path`, sparse, of `size` bytes. */
  static async create (path: string, size: number, open: OpenFile): Promise<OutputFile> {
    let fh: ChunkFile
    try {
      fh = await open(path + OUTPUT_SUFFIX, 'w', 0o644)
    } catch (err) {
      throw outputError(err, path, 'creating')
    }
    const out = new OutputFile(path, fh)
    try {
      await fh.truncate(size)
    } catch (err) {
      await out.discard()
      throw outputError(err, path, 'sizing')
    }
    return out
  }

  async write (bytes: Bytes, position: number): Promise<void> {
    try {
      await writeAll(this.fh, bytes, position)
    } catch (err) {
      throw outputError(err, this.path, 'writing')
    }
  }

  /** Sync and rename into place. */
  async commit (): Promise<void> {
    try {
      await this.fh.sync()
      await this.fh.close()
      await rename(this.tmpPath, this.path)
    } catch (err) {
      throw outputError(err, this.path, 'finishing')
    }
  }

  /** Close and delete the temp file (an abandoned pull leaves nothing beside `path`). */
  async discard (): Promise<void> {
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

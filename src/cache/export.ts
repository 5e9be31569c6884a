/**
 * Materialise a complete cached image at a user's path: a reflink where the
 * file system shares blocks (btrfs, XFS), otherwise a copy that skips zero
 * chunks so holes stay holes. Written beside the path, then renamed.
 */
import { constants } from 'node:fs'
import { copyFile, rename, rm } from 'node:fs/promises'
import { chunkLength, chunkOffset, isZeroChunk } from '../chunking/manifest.js'
import type { Manifest } from '../chunking/manifest.js'
import { readExactly } from './files.js'
import type { OpenFile } from './files.js'
import { OUTPUT_SUFFIX, OutputFile, outputError } from './output-file.js'
import type { ExportResult } from './types.js'

// copyFile's answers when the file system (or the pair of them) cannot clone.
const NO_REFLINK = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOSYS'])

export async function exportImage (src: string, manifest: Manifest, path: string, open: OpenFile, signal?: AbortSignal): Promise<ExportResult> {
  signal?.throwIfAborted()
  const tmp = path + OUTPUT_SUFFIX
  try {
    await copyFile(src, tmp, constants.COPYFILE_FICLONE_FORCE)
    await rename(tmp, path)
    return { path, method: 'reflink' }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code == null || !NO_REFLINK.has(code)) {
      await rm(tmp, { force: true })
      throw outputError(err, path, 'exporting to')
    }
  }
  await sparseCopy(src, manifest, path, open, signal)
  return { path, method: 'copy' }
}

async function sparseCopy (src: string, manifest: Manifest, path: string, open: OpenFile, signal?: AbortSignal): Promise<void> {
  const out = await OutputFile.create(path, manifest.size, open, { chunkSize: manifest.chunkSize })
  let committed = false
  const input = await open(src, 'r')
  try {
    const buf = new Uint8Array(manifest.chunkSize)
    for (let i = 0; i < manifest.chunks.length; i++) {
      signal?.throwIfAborted()
      if (isZeroChunk(manifest, i)) continue
      const bytes = await readExactly(input, chunkLength(manifest, i), chunkOffset(manifest, i), buf)
      await out.write(bytes, chunkOffset(manifest, i))
    }
    await out.commit()
    committed = true
  } finally {
    await input.close()
    if (!committed) await out.discard()
  }
}

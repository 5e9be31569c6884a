/**
 * Room on disk for a pull, checked before it fetches anything.
 *
 * Without this a pull into a file system too small for the image fetched
 * until the disk filled (minutes for a large image, with the swarm's
 * bandwidth spent on it) and only then failed. What it verified is kept
 * either way; this makes the answer come at once.
 */
import { stat, statfs } from 'node:fs/promises'
import { chunkLength, isZeroChunk, type Manifest } from '../chunking/manifest.js'
import { DiskFullError } from '../errors.js'
import type { Bitfield } from '../util/bitfield.js'
import { formatBytes } from '../util/size.js'

/** File systems allocate whole blocks; 4 KiB is the common one, and larger rounds the estimate up. */
const BLOCK = 4096

/**
 * Bytes still to be written for an image: the chunks not in `have`, each in
 * whole blocks. Zero chunks are never written (the files are sparse).
 */
export function bytesToWrite (manifest: Manifest, have?: Bitfield): number {
  let n = 0
  for (let i = 0; i < manifest.chunks.length; i++) {
    if (have?.has(i) === true || isZeroChunk(manifest, i)) continue
    n += Math.ceil(chunkLength(manifest, i) / BLOCK) * BLOCK
  }
  return n
}

export interface RoomNeed {
  /** A directory on the file system that must take `bytes`. */
  dir: string
  bytes: number
  /** Named in the error: '--out', 'the cache'. */
  what: string
}

/**
 * Throw DiskFullError, naming each short file system, unless every one has
 * the room its needs add up to (needs on one file system are summed). A
 * file system that cannot be asked (statfs unsupported) is taken as roomy.
 */
export async function checkRoom (needs: RoomNeed[]): Promise<void> {
  const wanted = needs.filter(n => n.bytes > 0)
  const devices = await Promise.all(wanted.map(async n => (await stat(n.dir)).dev))
  const byDevice = new Map<number, { dir: string, bytes: number, what: string[] }>()
  wanted.forEach((n, i) => {
    const d = byDevice.get(devices[i]) ?? { dir: n.dir, bytes: 0, what: [] }
    d.bytes += n.bytes
    d.what.push(n.what)
    byDevice.set(devices[i], d)
  })
  await Promise.all([...byDevice.values()].map(async d => {
    const fs = await statfs(d.dir).catch(() => undefined)
    if (fs == null) return
    // Root may write into the blocks ext4 reserves for it (5 % by default); others may not.
    const free = (process.getuid?.() === 0 ? fs.bfree : fs.bavail) * fs.bsize
    if (d.bytes > free) {
      throw new DiskFullError(`no space left on device for ${d.what.join(' and ')}: the pull needs ${formatBytes(d.bytes)} more on the file system of ${d.dir}, which has ${formatBytes(free)} free; nothing was fetched`)
    }
  }))
}

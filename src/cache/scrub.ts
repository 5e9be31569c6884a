/**
 * Re-hashing what the cache holds (`imgp2p verify`).
 *
 * Every chunk is checked against its CID when it arrives; nothing checks it
 * again before it is served or copied out. A failing disk, a stray write or
 * an operator's mistake after that goes unseen: peers drop the bad chunk and
 * count us as corrupt, and a `pull --out` from the cache hands the VM a
 * damaged disk. A scrub reads every held chunk back and names the bad ones.
 */
import type { CID } from 'multiformats/cid'
import type { Manifest } from '../chunking/manifest.js'
import { chunkLength, chunkOffset, isZeroChunk } from '../chunking/manifest.js'
import { defaultHashPool, verifyChunk, type HashPool } from '../chunking/verify.js'
import type { Bitfield } from '../util/bitfield.js'
import { readExactly, type ChunkFile } from './files.js'

export interface ScrubOptions {
  signal?: AbortSignal
  hashPool?: HashPool
  /** After each chunk checked: how many so far, of how many to check. */
  onProgress?: (checked: number, total: number) => void
}

export interface ScrubResult {
  /** Chunks read back and hashed (zero chunks are holes, never read). */
  checked: number
  /** Chunks whose bytes on disk no longer match their CID, in order. */
  bad: number[]
}

/**
 * Hash every chunk `held` marks in `fh`, laid out as `manifest` says. Reads
 * one chunk ahead while the previous one is hashed (in the hash pool's
 * workers when it has any), so a large image streams at disk speed without
 * ever being in memory.
 */
export async function scrubChunks (fh: ChunkFile, manifest: Manifest, held: Bitfield, options: ScrubOptions = {}): Promise<ScrubResult> {
  const pool = options.hashPool ?? defaultHashPool()
  const todo = [...held.indexes()].filter(i => !isZeroChunk(manifest, i))
  const bufs = [new Uint8Array(manifest.chunkSize), new Uint8Array(manifest.chunkSize)]
  const bad: number[] = []
  const read = async (k: number): Promise<Uint8Array> => {
    const i = todo[k]
    return await readExactly(fh, chunkLength(manifest, i), chunkOffset(manifest, i), bufs[k % 2])
  }
  let next = todo.length > 0 ? read(0) : undefined
  for (let k = 0; k < todo.length; k++) {
    options.signal?.throwIfAborted()
    const bytes = await (next as Promise<Uint8Array>)
    // The other buffer is free: its chunk was hashed in the previous round.
    next = k + 1 < todo.length ? read(k + 1) : undefined
    next?.catch(() => {}) // surfaces when awaited; not unhandled if this round throws
    if (!await verifyChunk(manifest.chunks[todo[k]] as CID, bytes, pool)) bad.push(todo[k])
    options.onProgress?.(k + 1, todo.length)
  }
  return { checked: todo.length, bad }
}

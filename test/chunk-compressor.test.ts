import { randomBytes } from 'node:crypto'
import { zstdCompressSync } from 'node:zlib'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FrameRing } from '../src/cache/frame-ring.js'
import { BadCompressedChunkError, ChunkCompressor, decompressChunk } from '../src/node/chunk-compressor.js'
import { textChunk, waitFor } from './helpers.js'

const KiB = 1024

describe('chunk compression', () => {
  it('compresses nothing new while the CPU has no room, and again once it has', async () => {
    const c = new ChunkCompressor(undefined, false)
    const chunk = textChunk(128 * KiB)
    expect(await c.encode(0, chunk)).toBeUndefined()
    expect(c.compressed).toBe(0)
    c.room = true
    // Not written off as incompressible meanwhile: the same chunk compresses now.
    expect((await c.encode(0, chunk))?.length).toBeLessThan(chunk.length / 2)
    c.close()
  })

  it('sends a compressible chunk compressed, once: it inflates to the same bytes, and is relayed from its kept frame', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'imgp2p-cc-'))
    const ring = new FrameRing(join(dir, 'frames'), 4 * 1024 * KiB)
    try {
      const c = new ChunkCompressor(ring)
      const chunk = textChunk(256 * KiB)
      expect(await c.keptFrame(0)).toBeUndefined()
      const packed = await c.encode(0, chunk)
      expect(packed).toBeDefined()
      expect(packed?.length).toBeLessThan(chunk.length / 2)
      expect(Buffer.from(decompressChunk([packed as Uint8Array], 256 * KiB)).equals(chunk)).toBe(true)
      await waitFor(() => ring.has(0), 2000, 'the frame to be written')
      expect(Buffer.from(await c.keptFrame(0) as Uint8Array).equals(packed as Buffer)).toBe(true)
      expect(c.compressed).toBe(1)
      expect(c.savedBytes).toBe(chunk.length - (packed?.length ?? 0))
      // A frame that arrived verified is relayed as it came.
      const frame = zstdCompressSync(textChunk(64 * KiB, 9))
      c.remember(5, frame)
      await waitFor(() => ring.has(5), 2000, 'the frame to be written')
      expect(Buffer.from(await c.keptFrame(5) as Uint8Array).equals(frame)).toBe(true)
      expect(c.compressed).toBe(1)
      c.close()
    } finally {
      await ring.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('sends random data as it is, probes a chunk once, and after a run of misses probes one chunk in sixteen', async () => {
    const c = new ChunkCompressor()
    for (let i = 0; i < 8; i++) expect(await c.encode(i, randomBytes(64 * KiB))).toBeUndefined()
    const text = textChunk(64 * KiB)
    const sent: boolean[] = []
    for (let i = 8; i < 24; i++) sent.push(await c.encode(i, text) !== undefined)
    expect(sent.slice(0, 15).every(x => !x)).toBe(true) // backed off: not even probed
    expect(sent[15]).toBe(true) // probed, compressed: back to trying every chunk
    expect(await c.encode(24, text)).toBeDefined()
    expect(await c.encode(3, text)).toBeUndefined() // chunk 3 did not shrink: never probed again
  })

  it('refuses a compressed chunk that inflates beyond the chunk size', () => {
    const bomb = zstdCompressSync(Buffer.alloc(1024 * KiB))
    expect(() => decompressChunk([bomb], 256 * KiB)).toThrow(BadCompressedChunkError)
    expect(() => decompressChunk([randomBytes(100)], 256 * KiB)).toThrow(BadCompressedChunkError)
  })

  it('inflates a payload that arrived in slices', () => {
    const chunk = textChunk(100 * KiB, 3)
    const packed = zstdCompressSync(chunk)
    const parts = [packed.subarray(0, 10), packed.subarray(10, 500), packed.subarray(500)]
    expect(Buffer.from(decompressChunk(parts, 128 * KiB)).equals(Buffer.from(chunk))).toBe(true)
  })
})

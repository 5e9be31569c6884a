import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { identity } from 'multiformats/hashes/identity'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chunkFile } from '../src/chunking/chunker.js'
import { DEFAULT_CHUNK_SIZE, MIN_DEFAULT_CHUNK_SIZE, chunkSizeFor } from '../src/chunking/constants.js'
import { chunkCid, isZeroCid, parseCid, zeroChunkCid } from '../src/chunking/cid.js'
import {
  MAX_MANIFEST_BYTES, chunkLength, chunkOffset, decodeManifest, encodeManifest, isZeroChunk, manifestCid
} from '../src/chunking/manifest.js'
import type { Manifest } from '../src/chunking/manifest.js'
import { HashPool, verifyChunk } from '../src/chunking/verify.js'

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'imgp2p-chunking-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

async function fileOf (name: string, bytes: Uint8Array): Promise<string> {
  const p = join(dir, name)
  await writeFile(p, bytes)
  return p
}

function rawCid (bytes: Uint8Array): CID {
  return chunkCid(bytes)
}

describe('cid', () => {
  it('chunkCid agrees with multiformats sha256 and is CIDv1 raw', async () => {
    const bytes = randomBytes(1000)
    const want = CID.createV1(0x55, await sha256.digest(bytes))
    expect(chunkCid(bytes).equals(want)).toBe(true)
    expect(chunkCid(bytes).toString()).toBe(want.toString())
  })

  it('zeroChunkCid is memoized and isZeroCid tells zeros from data', () => {
    expect(zeroChunkCid(4096)).toBe(zeroChunkCid(4096))
    expect(zeroChunkCid(4096).equals(chunkCid(new Uint8Array(4096)))).toBe(true)
    expect(isZeroCid(chunkCid(new Uint8Array(4096)), 4096)).toBe(true)
    expect(isZeroCid(chunkCid(new Uint8Array(4096)), 4095)).toBe(false)
    const notZero = new Uint8Array(4096); notZero[4095] = 1
    expect(isZeroCid(chunkCid(notZero), 4096)).toBe(false)
  })

  it('parseCid accepts an image CID and rejects the rest with InvalidCidError on one line', () => {
    const cid = manifestCid(encodeManifest({ version: 1, size: 0, chunkSize: 1024, chunks: [] }))
    expect(parseCid(` ${cid.toString()}\n`).equals(cid)).toBe(true)
    for (const bad of ['xyz', '', 'bafy\nnot', chunkCid(new Uint8Array(1)).toString(), 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG']) {
      let err: unknown
      try { parseCid(bad) } catch (e) { err = e }
      expect((err as Error).name).toBe('InvalidCidError')
      expect((err as Error).message).not.toContain('\n')
    }
    expect(parseCid(chunkCid(new Uint8Array(1)).toString(), 'chunk').code).toBe(0x55)
  })
})

describe('chunkSizeFor', () => {
  it('keeps 512 KiB from 128 MiB up and halves below, to at least 256 chunks, never under 128 KiB', () => {
    const MiB = 1024 * 1024
    expect(chunkSizeFor(10 * 1024 * MiB)).toBe(DEFAULT_CHUNK_SIZE)
    expect(chunkSizeFor(128 * MiB)).toBe(512 * 1024)
    expect(chunkSizeFor(128 * MiB - 1)).toBe(256 * 1024)
    expect(chunkSizeFor(64 * MiB)).toBe(256 * 1024)
    expect(chunkSizeFor(64 * MiB - 1)).toBe(128 * 1024)
    expect(chunkSizeFor(8 * MiB)).toBe(MIN_DEFAULT_CHUNK_SIZE)
    expect(chunkSizeFor(0)).toBe(MIN_DEFAULT_CHUNK_SIZE)
  })
})

describe('chunkFile and manifest', () => {
  const cs = 4096
  // Empty files are allowed: size 0, no chunks, a valid (tiny) image.
  for (const size of [0, 1, cs - 1, cs, 3 * cs, 3 * cs + 1]) {
    it(`round-trips a ${size}-byte file`, async () => {
      const data = randomBytes(size)
      const path = await fileOf(`f${size}`, data)
      const seen: Buffer[] = []
      const progress: number[] = []
      const { manifest, cid, bytes } = await chunkFile(path, {
        chunkSize: cs,
        onChunk: async (i, b, c) => {
          expect(i).toBe(seen.length)
          expect(c.equals(chunkCid(b))).toBe(true)
          seen.push(Buffer.from(b)) // copy: b is reused after we return
          await new Promise(resolve => setTimeout(resolve, 1)) // a read must not overwrite b meanwhile
          expect(chunkCid(b).equals(c)).toBe(true)
        },
        onProgress: done => progress.push(done)
      })
      expect(manifest.size).toBe(size)
      expect(manifest.chunks.length).toBe(Math.ceil(size / cs))
      expect(Buffer.concat(seen).equals(data)).toBe(true)
      expect(progress.at(-1) ?? 0).toBe(size)
      for (let i = 0; i < manifest.chunks.length; i++) {
        const slice = data.subarray(chunkOffset(manifest, i), chunkOffset(manifest, i) + chunkLength(manifest, i))
        expect(manifest.chunks[i].equals(chunkCid(slice))).toBe(true)
      }
      expect(Buffer.from(encodeManifest(manifest)).equals(Buffer.from(bytes))).toBe(true)
      expect(cid.equals(manifestCid(bytes))).toBe(true)
      expect(cid.code).toBe(0x71)
      const back = decodeManifest(bytes)
      expect(back.size).toBe(size)
      expect(back.chunks.map(String)).toEqual(manifest.chunks.map(String))
    })
  }

  it('recognizes zero chunks, including a short zero tail', async () => {
    const data = Buffer.alloc(3 * cs + 100)
    data.fill(7, cs, 2 * cs)
    const { manifest } = await chunkFile(await fileOf('zeros', data), { chunkSize: cs })
    expect(manifest.chunks.map((_, i) => isZeroChunk(manifest, i))).toEqual([true, false, true, true])
  })

  it('stops when aborted', async () => {
    const ac = new AbortController()
    const path = await fileOf('abort', randomBytes(10 * cs))
    const p = chunkFile(path, { chunkSize: cs, signal: ac.signal, onChunk: i => { if (i === 2) ac.abort() } })
    await expect(p).rejects.toMatchObject({ name: 'AbortError' })
  })

  it('fits a 10 GB image at 256 KiB chunks under MAX_MANIFEST_BYTES', () => {
    const chunkSize = 256 * 1024
    const size = 10e9
    const n = Math.ceil(size / chunkSize)
    const chunks = Array.from({ length: n }, (_, i) => rawCid(Buffer.from(String(i))))
    const bytes = encodeManifest({ version: 1, size, chunkSize, chunks })
    expect(bytes.length).toBeLessThan(MAX_MANIFEST_BYTES)
    expect(decodeManifest(bytes).chunks.length).toBe(n)
  })
})

describe('decodeManifest rejects', () => {
  const c = [rawCid(Buffer.from('a')), rawCid(Buffer.from('b'))]
  const good = { version: 1, size: 1500, chunkSize: 1000, chunks: c }
  const cases: Array<[string, unknown]> = [
    ['version 2', { ...good, version: 2 }],
    ['too few chunks for size', { ...good, size: 2001 }],
    ['too many chunks for size', { ...good, size: 1000 }],
    ['negative size', { ...good, size: -1 }],
    ['fractional size', { ...good, size: 1500.5 }],
    ['zero chunkSize', { ...good, chunkSize: 0, size: 0, chunks: [] }],
    ['huge chunkSize', { ...good, chunkSize: 2 ** 40, size: 2 ** 40 + 1 }],
    ['string size', { ...good, size: '1500' }],
    ['chunks not a list', { ...good, chunks: 'x' }],
    ['a chunk that is not a CID', { ...good, chunks: [c[0], new Uint8Array(36)] }],
    ['a dag-cbor chunk CID', { ...good, chunks: [c[0], CID.createV1(0x71, c[1].multihash)] }],
    ['an identity-hash chunk CID', { ...good, chunks: [c[0], CID.createV1(0x55, identity.digest(new Uint8Array(32)))] }],
    ['a CIDv0 chunk', { ...good, chunks: [c[0], CID.createV0(c[1].multihash as Parameters<typeof CID.createV0>[0])] }],
    ['an extra key', { ...good, extra: 1 }],
    ['a missing key', { version: 1, size: 1500, chunkSize: 1000 }],
    ['a list', [1, 2]]
  ]
  for (const [what, value] of cases) {
    it(what, () => {
      expect(() => decodeManifest(dagCbor.encode(value))).toThrowError(expect.objectContaining({ name: 'InvalidManifestError' }))
    })
  }

  it('the good one is accepted (so the cases above fail for their own reason)', () => {
    expect(decodeManifest(dagCbor.encode(good)).size).toBe(1500)
  })

  it('truncated, padded, oversized and non-canonical bytes', () => {
    const bytes = encodeManifest(good as Manifest)
    const bad = [
      bytes.subarray(0, bytes.length - 1),
      Buffer.concat([bytes, Buffer.from([0])]),
      new Uint8Array(MAX_MANIFEST_BYTES + 1),
      // Same map with size as a 64-bit integer: 0x19 05dc -> 0x1b 0000000005dc
      Buffer.from(Buffer.from(bytes).toString('hex').replace('6473697a651905dc', '6473697a651b00000000000005dc'), 'hex')
    ]
    // Same entries with keys out of dag-cbor order: move 'size' (first) to the end.
    const hex = Buffer.from(bytes).toString('hex')
    const sizeEntry = '6473697a651905dc'
    expect(hex.startsWith('a4' + sizeEntry)).toBe(true)
    bad.push(Buffer.from('a4' + hex.slice(2 + sizeEntry.length) + sizeEntry, 'hex'))
    expect(bad[3].length).toBe(bytes.length + 6)
    for (const b of bad) expect(() => decodeManifest(b)).toThrowError(expect.objectContaining({ name: 'InvalidManifestError' }))
  })

  it('every single-byte tamper is rejected or changes the CID', () => {
    const bytes = encodeManifest(good as Manifest)
    const cid = manifestCid(bytes)
    for (let i = 0; i < bytes.length; i++) {
      const t = new Uint8Array(bytes); t[i] ^= 0x01
      let decoded = true
      try { decodeManifest(t) } catch (e) { expect((e as Error).name).toBe('InvalidManifestError'); decoded = false }
      if (decoded) expect(manifestCid(t).equals(cid)).toBe(false)
    }
  })
})

describe('verifyChunk and HashPool', () => {
  const data = randomBytes(1 << 20)
  const cid = chunkCid(data)

  for (const [size, mode] of [[0, 'shared'], [1, 'shared'], [2, 'shared'], [1, 'clone']] as const) {
    it(`accepts right bytes and rejects wrong ones (size ${size}, ${mode})`, async () => {
      const pool = new HashPool({ size, mode })
      try {
        expect(pool.size).toBe(size)
        expect(await verifyChunk(cid, data, pool)).toBe(true)
        const bad = Buffer.from(data); bad[12345] ^= 0x80
        expect(await verifyChunk(cid, bad, pool)).toBe(false)
        expect(await verifyChunk(cid, data.subarray(1), pool)).toBe(false)
        expect(await verifyChunk(CID.createV1(0x71, cid.multihash), data, pool)).toBe(false)
        // A view into a larger buffer, and many at once.
        const big = Buffer.concat([randomBytes(100), data, randomBytes(100)])
        const views = Array.from({ length: 20 }, (_, i) => i % 2 === 0 ? big.subarray(100, 100 + data.length) : bad)
        const results = await Promise.all(views.map(async v => await verifyChunk(cid, v, pool)))
        expect(results).toEqual(views.map((_, i) => i % 2 === 0))
        // Small chunks take the inline path.
        expect(await verifyChunk(chunkCid(Buffer.from('x')), Buffer.from('x'), pool)).toBe(true)
      } finally {
        await pool.close()
      }
    })
  }

  it('finishes pending work inline when closed', async () => {
    const pool = new HashPool({ size: 1 })
    const pending = Array.from({ length: 8 }, async () => await verifyChunk(cid, data, pool))
    await pool.close()
    expect(await Promise.all(pending)).toEqual(Array(8).fill(true))
    expect(await verifyChunk(cid, data, pool)).toBe(true) // no workers left: inline
  })
})

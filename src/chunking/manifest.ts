/**
 * The manifest of an image: its size, chunk size and the CID of every chunk,
 * encoded as dag-cbor. The image CID is the manifest's CID.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { InvalidManifestError } from '../errors.js'
import { isChunkCid, isZeroCid } from './cid.js'
import { DAG_CBOR_CODEC, MAX_CHUNK_SIZE, SHA2_256_CODE } from './constants.js'

export interface Manifest {
  version: 1
  /** Image size in bytes. 0 is allowed: an empty image has no chunks. */
  size: number
  chunkSize: number
  chunks: CID[]
}

/**
 * Largest manifest we decode: 8 MiB. A chunk CID costs 41 bytes in dag-cbor,
 * so this holds ~200k chunks: 50 GiB at 256 KiB chunks (10 GB needs 1.7 MB),
 * 200 GiB at 1 MiB. Bounded because manifests arrive from peers.
 */
export const MAX_MANIFEST_BYTES = 8 * 1024 * 1024

/** Number of chunks an image of `size` bytes has at `chunkSize`. */
export function chunkCountFor (size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize)
}

export function encodeManifest (m: Manifest): Uint8Array {
  check(m)
  // Fixed key set; dag-cbor sorts keys, so equal manifests give equal bytes.
  return dagCbor.encode({ version: m.version, size: m.size, chunkSize: m.chunkSize, chunks: m.chunks })
}

/** Decode and validate manifest bytes from anywhere (disk or a peer). Throws InvalidManifestError. */
export function decodeManifest (bytes: Uint8Array): Manifest {
  if (bytes.length > MAX_MANIFEST_BYTES) throw new InvalidManifestError(`manifest is ${bytes.length} bytes, more than the limit of ${MAX_MANIFEST_BYTES}`)
  let raw: unknown
  try {
    raw = dagCbor.decode(bytes)
  } catch (err) {
    throw new InvalidManifestError(`manifest is not valid dag-cbor: ${(err as Error).message}`, { cause: err })
  }
  if (raw == null || typeof raw !== 'object' || Array.isArray(raw)) throw new InvalidManifestError('manifest is not a map')
  const r = raw as Record<string, unknown>
  const keys = Object.keys(r).sort().join(',')
  if (keys !== 'chunkSize,chunks,size,version') throw new InvalidManifestError(`manifest has keys {${keys}}, expected {chunkSize,chunks,size,version}`)
  const m = { version: r.version, size: r.size, chunkSize: r.chunkSize, chunks: r.chunks } as Manifest
  check(m)
  // Only one byte string per manifest, so one image has one CID: refuse other
  // encodings of the same content (unsorted keys, long integer forms).
  const canonical = encodeManifest(m)
  if (canonical.length !== bytes.length || !canonical.every((b, i) => b === bytes[i])) throw new InvalidManifestError('manifest is not in canonical dag-cbor form')
  return m
}

/** CID of encoded manifest bytes: CIDv1, dag-cbor, sha2-256. This is the image CID. */
export function manifestCid (bytes: Uint8Array): CID {
  const d = createHash('sha256').update(bytes).digest()
  return CID.createV1(DAG_CBOR_CODEC, createDigest(SHA2_256_CODE, new Uint8Array(d.buffer, d.byteOffset, d.byteLength)))
}

export function chunkCount (m: Manifest): number {
  return m.chunks.length
}

/** Byte length of chunk `i`: chunkSize, except the last chunk may be shorter. */
export function chunkLength (m: Manifest, i: number): number {
  checkIndex(m, i)
  return i < m.chunks.length - 1 ? m.chunkSize : m.size - m.chunkSize * (m.chunks.length - 1)
}

export function chunkOffset (m: Manifest, i: number): number {
  checkIndex(m, i)
  return i * m.chunkSize
}

/** True when chunk `i` is all zeros (stored as a hole, never transferred). */
export function isZeroChunk (m: Manifest, i: number): boolean {
  return isZeroCid(m.chunks[i], chunkLength(m, i))
}

/** Set the bit of every all-zero chunk in `bits` (held by whoever has the manifest) and return it. */
export function markZeroChunks<B extends { set: (i: number) => unknown }> (m: Manifest, bits: B): B {
  for (let i = 0; i < m.chunks.length; i++) if (isZeroChunk(m, i)) bits.set(i)
  return bits
}

function checkIndex (m: Manifest, i: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= m.chunks.length) throw new RangeError(`chunk index ${i} outside 0..${m.chunks.length - 1}`)
}

function check (m: Manifest): void {
  const bad = (why: string): never => { throw new InvalidManifestError(`invalid manifest: ${why}`) }
  if (m.version !== 1) bad(`unsupported version ${String(m.version)}`)
  if (!Number.isSafeInteger(m.size) || m.size < 0) bad(`size ${String(m.size)} is not a non-negative integer`)
  if (!Number.isSafeInteger(m.chunkSize) || m.chunkSize < 1 || m.chunkSize > MAX_CHUNK_SIZE) bad(`chunkSize ${String(m.chunkSize)} is not an integer in 1..${MAX_CHUNK_SIZE}`)
  if (!Array.isArray(m.chunks)) bad('chunks is not a list')
  const expected = chunkCountFor(m.size, m.chunkSize)
  if (m.chunks.length !== expected) bad(`${m.chunks.length} chunks listed, but size ${m.size} at chunkSize ${m.chunkSize} needs ${expected}`)
  for (let i = 0; i < m.chunks.length; i++) {
    const c: unknown = m.chunks[i]
    // CID.asCID accepts CID instances from another copy of multiformats too.
    const cid = CID.asCID(c)
    if (cid == null || !isChunkCid(cid)) bad(`chunk ${i} is not a CIDv1 of raw bytes with sha2-256`)
  }
}

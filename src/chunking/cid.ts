/**
 * CIDs of chunks: CIDv1, raw codec, sha2-256.
 *
 * Hashing goes straight to node:crypto (about 1.9 GB/s per core here) rather
 * than through multiformats' async hasher, so callers get a CID synchronously.
 */
import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import type { MultihashDigest } from 'multiformats/hashes/interface'
import { InvalidCidError } from '../errors.js'
import { DAG_CBOR_CODEC, RAW_CODEC, SHA2_256_CODE } from './constants.js'

/** The sha2-256 digest of `bytes` as a multihash. */
export function sha256Multihash (bytes: Uint8Array): MultihashDigest<typeof SHA2_256_CODE> {
  const d = createHash('sha256').update(bytes).digest()
  return createDigest(SHA2_256_CODE, new Uint8Array(d.buffer, d.byteOffset, d.byteLength))
}

/** CID of one chunk's bytes. */
export function chunkCid (bytes: Uint8Array): CID {
  return CID.createV1(RAW_CODEC, sha256Multihash(bytes))
}

/** Build a chunk CID from a sha2-256 digest computed elsewhere (e.g. a hash worker). */
export function chunkCidFromDigest (digest: Uint8Array): CID {
  return CID.createV1(RAW_CODEC, createDigest(SHA2_256_CODE, digest))
}

// Images are mostly zeros in places; one CID per distinct chunk length is enough.
const zeroCids = new Map<number, CID>()

/** CID of `length` zero bytes (memoized per length). */
export function zeroChunkCid (length: number): CID {
  let cid = zeroCids.get(length)
  if (cid == null) {
    cid = chunkCid(new Uint8Array(length))
    zeroCids.set(length, cid)
  }
  return cid
}

/** True when `cid` is the CID of `length` zero bytes. */
export function isZeroCid (cid: CID, length: number): boolean {
  return cid.equals(zeroChunkCid(length))
}

/** True when `cid` is a CIDv1 of raw bytes hashed with sha2-256 (the only chunk CIDs we accept). */
export function isChunkCid (cid: CID): boolean {
  return cid.version === 1 && cid.code === RAW_CODEC && cid.multihash.code === SHA2_256_CODE && cid.multihash.size === 32
}

/** True when `cid` can name an image: a CIDv1 of a dag-cbor manifest hashed with sha2-256. */
export function isImageCid (cid: CID): boolean {
  return cid.version === 1 && cid.code === DAG_CBOR_CODEC && cid.multihash.code === SHA2_256_CODE && cid.multihash.size === 32
}

/**
 * Parse a CID typed by a user or read from a file. By default it must name an
 * image (dag-cbor manifest); `kind: 'chunk'` wants a chunk CID, 'any' any CID.
 */
export function parseCid (str: string, kind: 'image' | 'chunk' | 'any' = 'image'): CID {
  const text = str.trim()
  let cid: CID | undefined
  try {
    cid = CID.parse(text)
  } catch {}
  const ok = cid != null && (kind === 'any' || (kind === 'image' ? isImageCid(cid) : isChunkCid(cid)))
  if (!ok || cid == null) {
    // One line, whatever was pasted: escape control characters and cut it short.
    const shown = JSON.stringify(text.length > 80 ? text.slice(0, 77) + '...' : text)
    throw new InvalidCidError(`not a valid ${kind === 'any' ? '' : kind + ' '}CID: ${shown}`)
  }
  return cid
}

/**
 * The `.have` record: which chunks of a `.part` file are verified.
 *
 * Layout: magic "IMGP2PHV", version u8, cid length u16, cid bytes, chunk count
 * u32, bitfield bytes, then a sha2-256 of everything before it. The header
 * lets us ignore a record that belongs to another image or was damaged
 * (rather than trusting chunks we never checked).
 */
import { createHash } from 'node:crypto'
import type { CID } from 'multiformats/cid'
import { Bitfield } from '../util/bitfield.js'

const MAGIC = Buffer.from('IMGP2PHV')
const VERSION = 1

export function encodeHave (cid: CID, have: Bitfield): Uint8Array {
  const head = Buffer.alloc(MAGIC.length + 1 + 2)
  MAGIC.copy(head)
  head.writeUInt8(VERSION, MAGIC.length)
  head.writeUInt16BE(cid.bytes.length, MAGIC.length + 1)
  const count = Buffer.alloc(4)
  count.writeUInt32BE(have.size)
  const body = Buffer.concat([head, cid.bytes, count, have.bytes])
  return Buffer.concat([body, createHash('sha256').update(body).digest()])
}

/** The recorded bitfield, or undefined when the record is not a sound record for this image. */
export function decodeHave (bytes: Uint8Array, cid: CID, chunkCount: number): Bitfield | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const cidStart = MAGIC.length + 3
  if (b.length < cidStart + 4 + 32) return undefined
  if (!b.subarray(0, MAGIC.length).equals(MAGIC) || b.readUInt8(MAGIC.length) !== VERSION) return undefined
  const cidLen = b.readUInt16BE(MAGIC.length + 1)
  const countAt = cidStart + cidLen
  const bitsAt = countAt + 4
  const bitsLen = Math.ceil(chunkCount / 8)
  if (b.length !== bitsAt + bitsLen + 32) return undefined
  const body = b.subarray(0, bitsAt + bitsLen)
  if (!createHash('sha256').update(body).digest().equals(b.subarray(body.length))) return undefined
  if (!b.subarray(cidStart, countAt).equals(cid.bytes)) return undefined

  if (b.readUInt32BE(countAt) !== chunkCount) return undefined
  return new Bitfield(chunkCount, b.subarray(bitsAt, bitsAt + bitsLen))
}

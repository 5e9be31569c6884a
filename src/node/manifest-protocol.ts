/**
 * /imgp2p/manifest/1.0.0: ask a peer for an image's manifest by CID.
 *
 *   request  = u32 length | CID bytes
 *   response = u8 status (0 found, 1 not found) | u32 length | manifest bytes
 *
 * The fetcher checks the bytes hash to the CID it asked for before anyone uses them.
 */
import type { Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { Uint8ArrayList } from 'uint8arraylist'
import { MAX_MANIFEST_BYTES, manifestCid } from '../chunking/manifest.js'
import { ProtocolError } from '../errors.js'
import { BoundedWriter } from './stream-writer.js'

const MAX_CID_BYTES = 128

export type ManifestSource = (cid: Uint8Array) => Promise<Uint8Array | undefined>

/**
 * Read one length-prefixed message: `header` bytes, of which the u32 at
 * `lenAt` says how many follow. One iterator for the whole read, so nothing
 * that arrives between two reads is missed.
 */
async function readMessage (stream: Stream, header: number, lenAt: number, maxBody: number, signal?: AbortSignal): Promise<Uint8ArrayList> {
  const buf = new Uint8ArrayList()
  let need = -1
  for await (const chunk of stream) {
    buf.append(chunk)
    if (need < 0 && buf.byteLength >= header) {
      const len = buf.getUint32(lenAt)
      if (len > maxBody) throw new ProtocolError(`peer announced ${len} bytes, over the limit of ${maxBody}`)
      need = header + len
    }
    if (buf.byteLength > header + maxBody) throw new ProtocolError(`peer sent more than ${header + maxBody} bytes`)
    if (need >= 0 && buf.byteLength >= need) return buf
    signal?.throwIfAborted()
  }
  throw new ProtocolError('peer closed the stream mid-message')
}

function u32 (n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}

export async function serveManifest (stream: Stream, source: ManifestSource): Promise<void> {
  const signal = AbortSignal.timeout(10_000)
  try {
    const buf = await readMessage(stream, 4, 0, MAX_CID_BYTES, signal)
    const len = buf.getUint32(0)
    const bytes = await source(buf.subarray(4, 4 + len))
    const writer = new BoundedWriter(stream)
    if (bytes == null) await writer.write([Uint8Array.of(1), u32(0)], signal)
    else await writer.write([Uint8Array.of(0), u32(bytes.length), bytes], signal)
    await stream.close({ signal })
  } catch (err) {
    stream.abort(err as Error)
  }
}

/** Ask one peer; undefined when it does not hold the manifest. Throws on a lying or broken peer, or a manifest over `maxBytes`. */
export async function fetchManifest (stream: Stream, cid: CID, signal?: AbortSignal, maxBytes = MAX_MANIFEST_BYTES): Promise<Uint8Array | undefined> {
  const writer = new BoundedWriter(stream)
  await writer.write([u32(cid.bytes.length), cid.bytes], signal)
  await stream.close({ signal })
  const buf = await readMessage(stream, 5, 1, maxBytes, signal)
  const status = buf.get(0)
  const len = buf.getUint32(1)
  if (status === 1) return undefined
  if (status !== 0) throw new ProtocolError(`bad manifest response status ${status}`)
  const bytes = buf.subarray(5, 5 + len)
  if (manifestCid(bytes).toString() !== cid.toString()) throw new ProtocolError(`peer sent a manifest that does not hash to ${cid.toString()}`)
  return bytes
}

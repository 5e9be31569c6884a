/**
 * /imgp2p/perf/1.0.0: the reference a pull is measured against. The dialer
 * asks for N bytes; the listener streams them through the same bounded
 * writer the swarm uses. Off unless the daemon runs with --enable-perf,
 * since it lets any peer make us send data.
 */
import type { Stream } from '@libp2p/interface'
import { BoundedWriter } from './stream-writer.js'

export const PERF_PROTOCOL = '/imgp2p/perf/1.0.0'
const BLOCK = 1024 * 1024

export async function servePerf (stream: Stream): Promise<void> {
  try {
    let req = new Uint8Array(0)
    for await (const chunk of stream) {
      const c = chunk.subarray()
      const next = new Uint8Array(req.length + c.length)
      next.set(req)
      next.set(c, req.length)
      req = next
      if (req.length >= 8) break
    }
    const total = Number(new DataView(req.buffer, req.byteOffset).getBigUint64(0))
    const writer = new BoundedWriter(stream)
    for (let sent = 0; sent < total; sent += BLOCK) {
      // A fresh buffer each time: send() keeps a reference (STACK-FACTS.md).
      const n = Math.min(BLOCK, total - sent)
      await writer.write([new Uint8Array(n).fill(sent & 0xff)])
    }
    await stream.close()
  } catch (err) {
    stream.abort(err as Error)
  }
}

/** Receive `bytes` from the peer; returns the elapsed seconds. */
export async function runPerf (stream: Stream, bytes: number, signal?: AbortSignal): Promise<number> {
  const req = new Uint8Array(8)
  new DataView(req.buffer).setBigUint64(0, BigInt(bytes))
  const t0 = performance.now()
  stream.send(req)
  let got = 0
  for await (const chunk of stream) {
    got += chunk.byteLength
    signal?.throwIfAborted()
    if (got >= bytes) break
  }
  const secs = (performance.now() - t0) / 1000
  if (got < bytes) throw new Error(`perf stream ended after ${got} of ${bytes} bytes`)
  await stream.close().catch(() => {})
  return secs
}

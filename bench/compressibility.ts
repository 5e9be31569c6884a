/**
 * What `imgp2p daemon --compress` would put on the wire for an image, and
 * what it costs: chunks the image the way `imgp2p add` does, runs every
 * non-zero chunk through the daemon's own ChunkCompressor (probe, backoff and
 * all), inflates each frame back and checks it, and prints the bytes and the
 * CPU per MiB. An operator runs it on a real disk image before turning
 * compression on; BENCHMARKS.md quotes it.
 *
 *   node dist/bench/compressibility.js FILE [--chunk-kib K] [--json]
 */
import { equal } from 'node:assert/strict'
import { parseArgs } from 'node:util'
import { chunkFile } from '../src/chunking/chunker.js'
import { isZeroCid } from '../src/chunking/cid.js'
import { ChunkCompressor, decompressChunk } from '../src/node/chunk-compressor.js'

export interface Compressibility {
  file: string
  imageBytes: number
  chunkBytes: number
  chunks: number
  zeroChunks: number
  /** Non-zero chunks that went compressed. */
  compressedChunks: number
  /** Bytes of the non-zero chunks, as they are. */
  dataBytes: number
  /** Bytes a full copy puts on the wire with compression (zero chunks never travel). */
  wireBytes: number
  /** CPU of the compressor (probes included) per MiB of non-zero data. */
  compressMsPerMiB: number
  /** CPU to inflate the compressed frames, per MiB they inflate to. */
  decompressMsPerMiB: number
}

export async function measureCompressibility (file: string, chunkBytes?: number, signal?: AbortSignal): Promise<Compressibility> {
  const compressor = new ChunkCompressor()
  const n = { zeroChunks: 0, compressedChunks: 0, dataBytes: 0, wireBytes: 0, inflatedBytes: 0, compressUs: 0, decompressUs: 0 }
  const cpu = (): number => { const u = process.cpuUsage(); return u.user + u.system }
  const { manifest } = await chunkFile(file, {
    chunkSize: chunkBytes,
    signal,
    onChunk: async (index, bytes, cid) => {
      if (isZeroCid(cid, bytes.length)) { n.zeroChunks++; return }
      n.dataBytes += bytes.length
      let t = cpu()
      const frame = await compressor.encode(index, bytes)
      n.compressUs += cpu() - t
      if (frame === undefined) { n.wireBytes += bytes.length; return }
      n.compressedChunks++
      n.wireBytes += frame.length
      t = cpu()
      const back = decompressChunk([frame], bytes.length)
      n.decompressUs += cpu() - t
      n.inflatedBytes += back.length
      equal(Buffer.compare(Buffer.from(back), Buffer.from(bytes)), 0, `chunk ${index} does not inflate back to itself`)
    }
  })
  compressor.close()
  const perMiB = (us: number, bytes: number): number => bytes === 0 ? 0 : us / 1000 / (bytes / 2 ** 20)
  return {
    file,
    imageBytes: manifest.size,
    chunkBytes: manifest.chunkSize,
    chunks: manifest.chunks.length,
    zeroChunks: n.zeroChunks,
    compressedChunks: n.compressedChunks,
    dataBytes: n.dataBytes,
    wireBytes: n.wireBytes,
    compressMsPerMiB: perMiB(n.compressUs, n.dataBytes),
    decompressMsPerMiB: perMiB(n.decompressUs, n.inflatedBytes)
  }
}

export function describe (c: Compressibility): string {
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`
  const dataChunks = c.chunks - c.zeroChunks
  return [
    `${c.file}: ${mib(c.imageBytes)} in ${c.chunks} chunks of ${c.chunkBytes / 1024} KiB`,
    `  zero chunks (never sent): ${c.zeroChunks}; data: ${mib(c.dataBytes)} in ${dataChunks} chunks`,
    `  compressed: ${c.compressedChunks} of ${dataChunks} chunks; on the wire ${mib(c.wireBytes)} = ` +
      `${(c.wireBytes / Math.max(1, c.dataBytes)).toFixed(3)} x the data, ${(c.wireBytes / c.imageBytes).toFixed(3)} x the image`,
    `  CPU: compress ${c.compressMsPerMiB.toFixed(2)} ms per MiB of data, decompress ${c.decompressMsPerMiB.toFixed(2)} ms per MiB inflated`
  ].join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'chunk-kib': { type: 'string' }, json: { type: 'boolean' } } })
  const file = positionals[0]
  const kib = values['chunk-kib'] === undefined ? undefined : Number(values['chunk-kib'])
  if (file === undefined || (kib !== undefined && !(Number.isInteger(kib) && kib > 0))) {
    process.stderr.write('usage: compressibility.js FILE [--chunk-kib K] [--json]\n')
    process.exit(2)
  }
  try {
    const c = await measureCompressibility(file, kib === undefined ? undefined : kib * 1024)
    process.stdout.write((values.json === true ? JSON.stringify(c) : describe(c)) + '\n')
  } catch (err) {
    process.stderr.write(`compressibility: ${(err as Error).message}\n`)
    process.exit(1)
  }
}

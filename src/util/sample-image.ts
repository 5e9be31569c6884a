/**
 * Sample images for the demo, benchmarks and tests, written in 1 MiB blocks
 * (never the whole image in memory), and the sha256 used to compare copies.
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'

export interface SampleImageOptions {
  /** Every this-many-th MiB is all zeros, like the holes of a fresh VM disk; omit for none. */
  zeroEvery?: number
  /** Mixed into every block, so two images of one size differ. */
  seed?: number
}

export async function writeSampleImage (path: string, size: number, opts: SampleImageOptions = {}): Promise<void> {
  const fh = await open(path, 'w')
  const block = Buffer.alloc(1024 * 1024)
  try {
    for (let off = 0, i = 0; off < size; off += block.length, i++) {
      const n = Math.min(block.length, size - off)
      if (opts.zeroEvery != null && i % opts.zeroEvery === opts.zeroEvery - 1) block.fill(0)
      else { randomFillSync(block); block.writeUInt32BE(i, 0); block[4] = opts.seed ?? 0 }
      await fh.write(block, 0, n, off)
    }
  } finally {
    await fh.close()
  }
}

/**
 * `bytes` of log-like text, which zstd shrinks about fivefold at level 1: the
 * kind of content (logs, configuration, sources) a disk image holds beside
 * binaries, which shrink about half as well, and packages, which do not.
 */
export function textBytes (bytes: number, seed = 0): Buffer {
  const lines: string[] = []
  let n = 0
  for (let i = 0; n < bytes; i++) {
    const line = `${1700000000 + i * 7 + seed} host${i % 13} kernel: eth0 rx=${(i * 977) % 100003} token=${randomBytes(3).toString('hex')}\n`
    lines.push(line)
    n += line.length
  }
  return Buffer.from(lines.join('')).subarray(0, bytes)
}

export async function sha256File (path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer)
  return h.digest('hex')
}

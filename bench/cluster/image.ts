/** Test images: random bytes, a VM-like image that is mostly zeros, or one whose data is text. */
import { randomBytes } from 'node:crypto'
import { closeSync, openSync, writeSync } from 'node:fs'
import { textBytes } from '../../src/util/sample-image.js'

export type ImageKind = 'random' | 'vm' | 'text'

/**
 * Writes `bytes` bytes to path. 'vm': 1 MiB blocks, about a quarter filled with
 * random data (the used part of a disk), the rest zero except for an occasional
 * 4 KiB random sector (file-system metadata), like a sparse qcow2/raw image.
 * 'text': every block log-like text (textBytes), which zstd shrinks ~5 x: the
 * most compressed chunks can gain, not a typical disk.
 */
export function generateImage (path: string, bytes: number, kind: ImageKind): void {
  const fd = openSync(path, 'w')
  try {
    const block = 1 << 20
    const zero = Buffer.alloc(block)
    for (let off = 0, i = 0; off < bytes; off += block, i++) {
      const len = Math.min(block, bytes - off)
      let buf: Buffer
      if (kind === 'random') buf = randomBytes(len)
      else if (kind === 'text') buf = textBytes(len, i)
      else {
        const r = randomBytes(2)
        if (r[0] < 64 || i === 0) buf = randomBytes(len)
        else if (r[1] < 32) {
          buf = Buffer.alloc(len)
          randomBytes(4096).copy(buf, (r[1] % 16) * 4096 % Math.max(1, len - 4096))
        } else buf = zero.subarray(0, len)
      }
      writeSync(fd, buf)
    }
  } finally { closeSync(fd) }
}

export { sha256File } from '../../src/util/sample-image.js'

import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, constants, openSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openFile } from '../src/cache/files.js'
import type { ChunkFile, OpenFile } from '../src/cache/files.js'
import { OutputFile } from '../src/cache/output-file.js'
import { passThrough } from './helpers.js'

const KiB = 1024
let root: string
beforeEach(async () => { root = await mkdtemp(join(tmpdir(), 'imgp2p-out-')) })
afterEach(async () => { await rm(root, { recursive: true, force: true, maxRetries: 5 }) })

/** Whether this directory's file system opens files with O_DIRECT at all (asked without our code). */
function acceptsDirect (dir: string): boolean {
  try {
    closeSync(openSync(join(dir, 'probe'), constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT))
    return true
  } catch {
    return false
  }
}

/** Pages of `path` in the page cache, from util-linux fincore; undefined where it is missing. */
function cachedBytes (path: string): number | undefined {
  try {
    return Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path], { encoding: 'utf8' }).trim())
  } catch {
    return undefined
  }
}

/**
 * An image of `n` chunks (chunk `zero` all zeros, the last one `tail` bytes),
 * written the way a pull writes it: out of order, each chunk in several parts,
 * the zero chunk skipped so it stays a hole.
 */
async function fill (out: OutputFile, chunk: number, n: number, tail: number, zero: number): Promise<Buffer> {
  const size = (n - 1) * chunk + tail
  const data = randomBytes(size)
  data.fill(0, zero * chunk, (zero + 1) * chunk)
  const order = [...Array(n).keys()].reverse()
  await Promise.all(order.filter(i => i !== zero).map(async i => {
    const bytes = data.subarray(i * chunk, Math.min(size, (i + 1) * chunk))
    const cut = Math.min(bytes.length, 1000 + i)
    await out.write([bytes.subarray(0, cut), bytes.subarray(cut, cut + 5000), bytes.subarray(cut + 5000)], i * chunk)
  }))
  return data
}

describe('OutputFile', () => {
  it('writes chunks past the page cache where the file system takes O_DIRECT, with exact bytes, size and holes', async () => {
    const chunk = 64 * KiB
    const path = join(root, 'vm.img')
    const out = await OutputFile.create(path, 15 * chunk + 777, openFile, { chunkSize: chunk })
    expect(out.directIO).toBe(acceptsDirect(root))
    const data = await fill(out, chunk, 16, 777, 3)
    await out.commit()
    expect((await stat(path)).size).toBe(data.length)
    if (out.directIO) {
      const cached = cachedBytes(path)
      if (cached !== undefined) expect(cached).toBeLessThan(data.length / 4)
    }
    const st = await stat(path)
    expect(st.blocks * 512).toBeLessThanOrEqual(data.length - chunk + 4 * KiB) // the zero chunk is a hole
    expect((await readFile(path)).equals(data)).toBe(true)
  })

  it('stays buffered where O_DIRECT is refused at open, or for chunks that are not whole blocks', async () => {
    const refusing: OpenFile = async (p, flags, mode) => {
      if (typeof flags === 'number' && (flags & constants.O_DIRECT) !== 0) throw Object.assign(new Error('EINVAL: invalid argument, open'), { code: 'EINVAL' })
      return await openFile(p, flags, mode)
    }
    for (const [open, chunk] of [[refusing, 64 * KiB], [openFile, 10_000]] as const) {
      const path = join(root, `b-${chunk}.img`)
      const out = await OutputFile.create(path, 7 * chunk + 5, open, { chunkSize: chunk })
      expect(out.directIO).toBe(false)
      const data = await fill(out, chunk, 8, 5, 0)
      await out.commit()
      expect((await readFile(path)).equals(data)).toBe(true)
    }
  })

  it('goes on through the page cache when a direct write is refused midway', async () => {
    let directWrites = 0
    const flaky: OpenFile = async (p, flags, mode) => {
      const fh = await openFile(p, flags, mode)
      if (typeof flags !== 'number' || (flags & constants.O_DIRECT) === 0) return fh
      // The second chunk written past the page cache is refused.
      const write: ChunkFile['write'] = async (buf, off, len, pos) => {
        if (++directWrites === 2) throw Object.assign(new Error('EINVAL: invalid argument, write'), { code: 'EINVAL' })
        return await fh.write(buf, off, len, pos)
      }
      return { ...passThrough(fh), write }
    }
    const chunk = 64 * KiB
    const path = join(root, 'flaky.img')
    const out = await OutputFile.create(path, 5 * chunk + 100, flaky, { chunkSize: chunk })
    if (!out.directIO) return // this file system refuses O_DIRECT: the test above covers it
    const data = await fill(out, chunk, 6, 100, 1)
    expect(out.directIO).toBe(false)
    await out.commit()
    expect((await stat(path)).size).toBe(data.length)
    expect((await readFile(path)).equals(data)).toBe(true)
  })
})

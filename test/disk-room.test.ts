import { statfs } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { bytesToWrite, checkRoom } from '../src/cache/disk-room.js'
import { chunkCid, zeroChunkCid } from '../src/chunking/cid.js'
import type { Manifest } from '../src/chunking/manifest.js'
import { Bitfield } from '../src/util/bitfield.js'
import { tempDir } from './helpers.js'

describe('room on disk for a pull', () => {
  it('counts the chunks still to write in whole blocks, leaving out held and zero chunks', async () => {
    const size = 3 * 65536 + 100
    const chunks = [chunkCid(new Uint8Array(65536).fill(1)), zeroChunkCid(65536), chunkCid(new Uint8Array(65536).fill(2)), chunkCid(new Uint8Array(100).fill(3))]
    const m: Manifest = { version: 1, size, chunkSize: 65536, chunks }
    expect(bytesToWrite(m)).toBe(2 * 65536 + 4096)
    const have = new Bitfield(4)
    have.set(0)
    expect(bytesToWrite(m, have)).toBe(65536 + 4096)
  })

  it('refuses what a file system cannot take, summing needs that share one', async () => {
    const t = await tempDir('imgp2p-room-')
    try {
      const fs = await statfs(t.path)
      const free = (process.getuid?.() === 0 ? fs.bfree : fs.bavail) * fs.bsize
      await checkRoom([{ dir: t.path, bytes: 1024 * 1024, what: 'the cache' }])
      // Each half fits alone; together they do not.
      const half = Math.ceil(free / 2) + 64 * 1024 * 1024
      await checkRoom([{ dir: t.path, bytes: half, what: 'the cache' }])
      await expect(checkRoom([{ dir: t.path, bytes: half, what: 'the cache' }, { dir: t.path, bytes: half, what: '--out /x/vm.raw' }]))
        .rejects.toThrow(/^no space left on device for the cache and --out \/x\/vm\.raw: the pull needs .* more on the file system of .*, which has .* free; nothing was fetched$/)
      await expect(checkRoom([{ dir: t.path, bytes: half, what: 'the cache' }, { dir: t.path, bytes: half, what: 'x' }])).rejects.toMatchObject({ exitCode: 6 })
    } finally {
      await t.cleanup()
    }
  })
})

import { randomBytes } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { measureCompressibility } from '../bench/compressibility.js'
import { textBytes } from '../src/util/sample-image.js'

const CHUNK = 128 * 1024
const dir = mkdtempSync(join(tmpdir(), 'imgp2p-compressibility-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

describe('bench/compressibility', () => {
  it('counts zero chunks apart, compresses the text and sends the random data as it is', async () => {
    // 4 text chunks, 3 random, 2 zero, and a short text tail.
    const file = join(dir, 'mixed.img')
    writeFileSync(file, Buffer.concat([
      textBytes(4 * CHUNK, 1), randomBytes(3 * CHUNK), Buffer.alloc(2 * CHUNK), textBytes(CHUNK / 2, 2)
    ]))
    const c = await measureCompressibility(file, CHUNK)
    expect(c.chunks).toBe(10)
    expect(c.zeroChunks).toBe(2)
    expect(c.dataBytes).toBe(7.5 * CHUNK)
    expect(c.compressedChunks).toBe(5)
    // The random chunks go whole; text shrinks several-fold.
    expect(c.wireBytes).toBeGreaterThan(3 * CHUNK)
    expect(c.wireBytes).toBeLessThan(3 * CHUNK + 4.5 * CHUNK / 3)
    expect(c.compressMsPerMiB).toBeGreaterThan(0)
  })

  it('gives a one-line error and a non-zero exit for a missing file', () => {
    const r = spawnSync(process.execPath, ['dist/bench/compressibility.js', join(dir, 'absent.img')], { encoding: 'utf8' })
    expect(r.status).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/^compressibility: .*absent\.img/)
  })
})

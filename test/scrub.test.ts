/**
 * `verify` on the store: chunks damaged on disk after they were checked are
 * found, stop being served, and are the only ones a later pull fetches.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { open, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FsImageStore } from '../src/cache/image-store.js'
import { chunkLength, chunkOffset, type Manifest } from '../src/chunking/manifest.js'
import { HashPool } from '../src/chunking/verify.js'
import { tempDir } from './helpers.js'

const KiB = 1024
const CHUNK = 64 * KiB
const pool = new HashPool({ size: 1 })
let dir: string
let cleanup: () => Promise<void>

beforeEach(async () => { ({ path: dir, cleanup } = await tempDir('imgp2p-scrub-')) })
afterEach(async () => { await cleanup() })

/** Ten chunks, the fifth all zeros (a hole, never read back), the last short. */
async function imageFile (): Promise<{ path: string, data: Buffer }> {
  const data = randomBytes(9 * CHUNK + 1000)
  data.fill(0, 4 * CHUNK, 5 * CHUNK)
  const path = join(dir, 'disk.raw')
  await writeFile(path, data)
  return { path, data }
}

/** Flip one byte of chunk `i` in `file`, as a failing disk would. */
async function damage (file: string, m: Manifest, i: number): Promise<void> {
  const fh = await open(file, 'r+')
  try {
    const at = chunkOffset(m, i) + 17
    const b = Buffer.alloc(1)
    await fh.read(b, 0, 1, at)
    b[0] ^= 0x40
    await fh.write(b, 0, 1, at)
  } finally {
    await fh.close()
  }
}

const chunkOf = (m: Manifest, data: Buffer, i: number): Buffer => data.subarray(chunkOffset(m, i), chunkOffset(m, i) + chunkLength(m, i))

describe('FsImageStore.verify', () => {
  it('finds a complete image sound, reading every chunk but the zero one', async () => {
    const s = await FsImageStore.open(join(dir, 'data'), { hashPool: pool })
    const { cid } = await s.importFile((await imageFile()).path, { chunkSize: CHUNK })
    const seen: number[] = []
    const r = await s.verify(cid, { onProgress: (n) => { seen.push(n) } })
    expect(r).toEqual({ cid: cid.toString(), state: 'complete', checked: 9, bad: [] })
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(await s.completePath(cid)).toBeDefined()
  })

  it('sends a damaged complete image back to partial, lacking only the bad chunks, and a pull completes it', async () => {
    const s = await FsImageStore.open(join(dir, 'data'), { hashPool: pool })
    const { path, data } = await imageFile()
    const { cid, manifest } = await s.importFile(path, { chunkSize: CHUNK })
    const file = await s.completePath(cid) as string
    await damage(file, manifest, 2)
    await damage(file, manifest, 9)

    expect(await s.verify(cid)).toEqual({ cid: cid.toString(), state: 'complete', checked: 9, bad: [2, 9] })
    expect(await s.completePath(cid)).toBeUndefined()
    expect(existsSync(file)).toBe(false)
    expect(await s.info(cid)).toMatchObject({ complete: false, haveCount: 8, chunkCount: 10 })
    // Not served any more; the sound chunks still are.
    expect(await s.readChunk(cid, 2)).toBeUndefined()
    expect(Buffer.from(await s.readChunk(cid, 3) as Uint8Array).equals(chunkOf(manifest, data, 3))).toBe(true)
    // A second look checks what is left and finds it sound.
    expect(await s.verify(cid)).toEqual({ cid: cid.toString(), state: 'partial', checked: 7, bad: [] })

    const p = await s.openPartial(cid, manifest)
    expect([...p.have.indexes()].length).toBe(8)
    expect(p.have.has(2) || p.have.has(9)).toBe(false)
    for (const i of [2, 9]) await p.writeChunk(i, chunkOf(manifest, data, i))
    await p.finish()
    expect((await readFile(await s.completePath(cid) as string)).equals(data)).toBe(true)
    expect((await s.verify(cid)).bad).toEqual([])
  })

  it('makes a partial image forget a damaged chunk it had recorded', async () => {
    const seeder = await FsImageStore.open(join(dir, 'seed'), { hashPool: pool })
    const { path, data } = await imageFile()
    const { cid, manifest } = await seeder.importFile(path, { chunkSize: CHUNK })
    const s = await FsImageStore.open(join(dir, 'data'), { hashPool: pool })
    const p = await s.openPartial(cid, manifest)
    for (const i of [0, 1, 2, 3]) await p.writeChunk(i, chunkOf(manifest, data, i))
    await p.close()
    await damage(join(dir, 'data', 'partial', `${cid.toString()}.part`), manifest, 1)

    expect(await s.verify(cid)).toEqual({ cid: cid.toString(), state: 'partial', checked: 4, bad: [1] })
    const again = await s.openPartial(cid, manifest)
    expect([0, 1, 2, 3, 4].map(i => again.have.has(i))).toEqual([true, false, true, true, true]) // 4: the zero chunk
    await again.close()
  })

  it('leaves an image a pull holds open alone, and a pull that starts during a scrub takes its result', async () => {
    const s = await FsImageStore.open(join(dir, 'data'), { hashPool: pool })
    const { path } = await imageFile()
    const { cid, manifest } = await s.importFile(path, { chunkSize: CHUNK })
    await damage(await s.completePath(cid) as string, manifest, 6)

    const scrub = s.verify(cid)
    const pulled = s.openPartial(cid, manifest) // asked while the scrub runs
    expect((await scrub).bad).toEqual([6])
    const p = await pulled
    expect(p.complete).toBe(false)
    expect(p.have.has(6)).toBe(false)
    expect(p.have.count).toBe(9)
    expect(await s.verify(cid)).toEqual({ cid: cid.toString(), state: 'busy', checked: 0, bad: [] })
    await p.close()
  })

  it('says which image it does not know', async () => {
    const s = await FsImageStore.open(join(dir, 'data'), { hashPool: pool })
    const other = await FsImageStore.open(join(dir, 'other'), { hashPool: pool })
    const { cid } = await other.importFile((await imageFile()).path, { chunkSize: CHUNK })
    await expect(s.verify(cid)).rejects.toThrow(`image ${cid.toString()} is not in the cache`)
  })
})

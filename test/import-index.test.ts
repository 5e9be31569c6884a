/**
 * Adding a file that was added before and has not changed since answers
 * from the record, without reading the file; any change to the file, a
 * different chunk size or an image removed since means reading it again.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FsImageStore } from '../src/cache/image-store.js'
import { ImportIndex } from '../src/cache/import-index.js'

const KiB = 1024
let root: string

beforeEach(async () => { root = await mkdtemp(join(tmpdir(), 'imgp2p-imports-')) })
afterEach(async () => { await rm(root, { recursive: true, force: true }) })

async function image (name: string, bytes = 300 * KiB): Promise<string> {
  const path = join(root, name)
  await writeFile(path, randomBytes(bytes))
  return path
}

/** Import and report whether the file was read (the chunker reports progress only when it reads). */
async function add (s: FsImageStore, path: string, chunkSize?: number): Promise<{ cid: string, reused: boolean, read: boolean }> {
  let read = false
  const r = await s.importFile(path, { chunkSize, onProgress: () => { read = true } })
  return { cid: r.cid.toString(), reused: r.reused, read }
}

describe('adding an unchanged file again', () => {
  it('answers from the record without reading the file, also after a restart', async () => {
    const path = await image('disk.qcow2')
    const s = await FsImageStore.open(join(root, 'data'))
    const first = await add(s, path)
    expect(first).toMatchObject({ reused: false, read: true })
    expect(await add(s, path)).toEqual({ cid: first.cid, reused: true, read: false })
    await s.close()
    const again = await FsImageStore.open(join(root, 'data'))
    expect(await add(again, path)).toEqual({ cid: first.cid, reused: true, read: false })
    expect(JSON.parse(await readFile(join(root, 'data', 'imports.json'), 'utf8'))).toEqual({ files: [expect.objectContaining({ path, cid: first.cid })], added: [first.cid] })
  })

  it('reads the file again when its bytes changed, even with size and mtime restored', async () => {
    const path = await image('disk.raw')
    const s = await FsImageStore.open(join(root, 'data'))
    const first = await add(s, path)
    const before = await stat(path, { bigint: true })
    await writeFile(join(root, 'ref'), '')
    execFileSync('touch', ['-r', path, join(root, 'ref')]) // to the nanosecond, unlike utimes
    const fh = await open(path, 'r+')
    await fh.write(randomBytes(16), 0, 16, 1000)
    await fh.close()
    execFileSync('touch', ['-r', join(root, 'ref'), path]) // what `cp -p` or a careless tool leaves behind
    const after = await stat(path, { bigint: true })
    expect([after.size, after.mtimeNs, after.ino]).toEqual([before.size, before.mtimeNs, before.ino])
    const second = await add(s, path)
    expect(second).toMatchObject({ reused: false, read: true })
    expect(second.cid).not.toBe(first.cid)
  })

  it('reads the file again for another chunk size, and after the image was removed', async () => {
    const path = await image('disk.raw')
    const s = await FsImageStore.open(join(root, 'data'))
    const a = await add(s, path, 64 * KiB)
    const b = await add(s, path, 128 * KiB)
    expect(b).toMatchObject({ reused: false, read: true })
    expect(b.cid).not.toBe(a.cid)
    expect(await add(s, path, 64 * KiB)).toEqual({ cid: a.cid, reused: true, read: false })
    expect(s.addedImages().sort()).toEqual([a.cid, b.cid].sort())
    expect(await s.remove(CID.parse(a.cid))).toBe(true)
    // Removed: no longer one this host added, also after a restart.
    expect((await FsImageStore.open(join(root, 'data'))).addedImages()).toEqual([b.cid])
    expect(await add(s, path, 64 * KiB)).toEqual({ cid: a.cid, reused: false, read: true })
  })

  it('treats a damaged record as empty', async () => {
    const path = await image('disk.raw')
    await writeFile(join(root, 'index.json'), '{"not": "a list"')
    const index = await ImportIndex.open(join(root, 'index.json'))
    const st = await stat(path, { bigint: true })
    const id = { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs }
    expect(index.lookup(id, 512 * KiB)).toBeUndefined()
    await index.record(path, id, 512 * KiB, 'bafyreiexample')
    expect((await ImportIndex.open(join(root, 'index.json'))).lookup(id, 512 * KiB)).toBe('bafyreiexample')
    expect(index.lookup({ ...id, ctimeNs: id.ctimeNs + 1n }, 512 * KiB)).toBeUndefined()
  })
})

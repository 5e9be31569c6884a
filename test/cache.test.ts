import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { CID } from 'multiformats/cid'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { chunkLength, chunkOffset, isZeroChunk } from '../src/chunking/manifest.js'
import type { Manifest } from '../src/chunking/manifest.js'
import { HashPool } from '../src/chunking/verify.js'
import { defaultDataDir } from '../src/cache/data-dir.js'
import { decodeHave } from '../src/cache/have-record.js'
import { openFile } from '../src/cache/files.js'
import type { ChunkFile, OpenFile } from '../src/cache/files.js'
import { FsImageStore } from '../src/cache/image-store.js'
import type { FsImageStoreOptions } from '../src/cache/image-store.js'
import type { PartialImage } from '../src/cache/types.js'
import { passThrough } from './helpers.js'

const KiB = 1024
const MiB = 1024 * KiB
let root: string
const pool = new HashPool({ size: 1 })

beforeEach(async () => { root = await mkdtemp(join(tmpdir(), 'imgp2p-cache-')) })
afterEach(async () => { await rm(root, { recursive: true, force: true, maxRetries: 5 }) })

/** An image file from a pattern, one character per chunk: D = random data, Z = zeros. */
async function makeImage (name: string, pattern: string, chunkSize: number, tail = 0): Promise<{ path: string, data: Buffer }> {
  const size = pattern.length * chunkSize - (tail > 0 ? chunkSize - tail : 0)
  const data = Buffer.alloc(size)
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === 'D') randomBytes(Math.min(chunkSize, size - i * chunkSize)).copy(data, i * chunkSize)
  }
  const path = join(root, name)
  await writeFile(path, data)
  return { path, data }
}

async function store (name: string, options: FsImageStoreOptions = {}): Promise<FsImageStore> {
  return await FsImageStore.open(join(root, name), { hashPool: pool, ...options })
}

function chunkOf (m: Manifest, data: Buffer, i: number): Buffer {
  return data.subarray(chunkOffset(m, i), chunkOffset(m, i) + chunkLength(m, i))
}

/** Feed chunks `indexes` (default: all non-zero ones) of `data` into `p`, as a peer would. */
async function feed (p: PartialImage, data: Buffer, indexes?: number[]): Promise<void> {
  const m = p.manifest
  for (const i of indexes ?? m.chunks.map((_, i) => i).filter(i => !isZeroChunk(m, i))) await p.writeChunk(i, chunkOf(m, data, i))
}

/** Import into a "seeder" store and return what a puller needs. */
async function seed (pattern: string, chunkSize: number, tail = 0): Promise<{ cid: CID, manifest: Manifest, data: Buffer }> {
  const { path, data } = await makeImage('src-' + pattern, pattern, chunkSize, tail)
  const seeder = await store('seeder')
  const { cid, manifest } = await seeder.importFile(path, { chunkSize })
  return { cid, manifest, data }
}

async function diskBytes (path: string): Promise<number> {
  return (await stat(path)).blocks * 512
}

async function expectName (p: Promise<unknown>, name: string): Promise<Error> {
  let err: unknown
  try { await p } catch (e) { err = e }
  expect((err as Error | undefined)?.name).toBe(name)
  return err as Error
}

describe('FsImageStore: import, read, list, remove', () => {
  it('imports a file once, keeps its bytes and manifest, and lists it', async () => {
    const { path, data } = await makeImage('img', 'DZDDZ', 64 * KiB, 1000)
    const s = await store('a')
    const progress: number[] = []
    const { cid, manifest } = await s.importFile(path, { chunkSize: 64 * KiB, onProgress: d => progress.push(d) })
    expect(progress.at(-1)).toBe(data.length)
    expect(manifest.size).toBe(data.length)
    expect((await readFile(join(s.dataDir, 'images', cid.toString()))).equals(data)).toBe(true)
    expect(await s.completePath(cid)).toBe(join(s.dataDir, 'images', cid.toString()))
    expect((await s.getManifest(cid))?.chunks.length).toBe(5)
    expect(await s.info(cid)).toEqual({ cid: cid.toString(), size: data.length, chunkSize: 64 * KiB, chunkCount: 5, haveCount: 5, complete: true })
    for (let i = 0; i < 5; i++) expect(Buffer.from((await s.readChunk(cid, i))!).equals(chunkOf(manifest, data, i))).toBe(true)
    expect(await s.readChunk(cid, 5)).toBeUndefined()
    // Again: same CID, nothing left behind in partial/.
    expect((await s.importFile(path, { chunkSize: 64 * KiB })).cid.equals(cid)).toBe(true)
    expect(await readdir(join(s.dataDir, 'partial'))).toEqual([])
    expect((await s.list()).map(i => i.cid)).toEqual([cid.toString()])
    // A fresh store over the same dir reads it back from disk.
    const again = await FsImageStore.open(s.dataDir)
    expect((await again.getManifest(cid))?.size).toBe(data.length)
  })

  it('picks smaller chunks for a small image when no chunk size is given', async () => {
    // 3 MiB: 128 KiB chunks (24 of them) rather than 6 of 512 KiB, so a
    // request never waits behind megabytes on a shared link (chunkSizeFor).
    const data = randomBytes(3 * 1024 * KiB)
    const path = join(root, 'small'); await writeFile(path, data)
    const s = await store('a')
    const { cid, manifest } = await s.importFile(path)
    expect(manifest.chunkSize).toBe(128 * KiB)
    expect(manifest.chunks.length).toBe(24)
    expect((await readFile((await s.completePath(cid))!)).equals(data)).toBe(true)
  })

  it('imports an empty file as an image with no chunks', async () => {
    const path = join(root, 'empty'); await writeFile(path, '')
    const s = await store('a')
    const { cid, manifest } = await s.importFile(path)
    expect(manifest.chunks).toEqual([])
    expect((await readFile((await s.completePath(cid))!)).length).toBe(0)
  })

  it('rejects a missing input file with NotFoundError and leaves no temp file', async () => {
    const s = await store('a')
    await expectName(s.importFile(join(root, 'nope')), 'NotFoundError')
    expect(await readdir(join(s.dataDir, 'partial'))).toEqual([])
  })

  it('putManifest refuses bytes that do not hash to the CID, and openPartial a manifest that is not the CID\'s', async () => {
    const a = await seed('DD', 64 * KiB)
    const b = await seed('DDD', 64 * KiB)
    const s = await store('a')
    const bBytes = await (await store('seeder')).getManifestBytes(b.cid)
    await expectName(s.putManifest(a.cid, bBytes!), 'InvalidManifestError')
    await expectName(s.openPartial(a.cid, b.manifest), 'InvalidManifestError')
    expect(await s.getManifest(a.cid)).toBeUndefined()
  })

  it('remove deletes the complete image, the partial and the manifest', async () => {
    const a = await seed('DD', 64 * KiB)
    const b = await seed('DDZ', 64 * KiB)
    const s = await store('seeder')
    const p = await s.openPartial(b.cid, b.manifest) // already complete here: no partial files
    await p.close()
    const t = await store('t')
    const q = await t.openPartial(a.cid, a.manifest)
    await feed(q, a.data, [0])
    expect(await s.remove(a.cid)).toBe(true)
    expect(await t.remove(a.cid)).toBe(true)
    expect(await t.remove(a.cid)).toBe(false)
    expect(await s.completePath(a.cid)).toBeUndefined()
    expect(await s.getManifest(a.cid)).toBeUndefined()
    expect(await readdir(join(t.dataDir, 'partial'))).toEqual([])
    expect((await s.list()).map(i => i.cid)).toEqual([b.cid.toString()])
  })

  it('close waits for a manifest still being written in the background, and leaves no temp file', async () => {
    const { path } = await makeImage('src-close', 'DD', 64 * KiB)
    const seeder = await store('seeder-close')
    const { cid } = await seeder.importFile(path, { chunkSize: 64 * KiB })
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    const gated: OpenFile = async (p, flags, mode) => {
      const fh = await openFile(p, flags, mode)
      return p.includes('/manifests/') ? { ...passThrough(fh), datasync: async () => { await gate; await fh.datasync() } } : fh
    }
    const s = await store('c', { open: gated })
    await s.putManifest(cid, (await seeder.getManifestBytes(cid))!, { durable: false })
    let closed = false
    const closing = s.close().then(() => { closed = true })
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(closed).toBe(false)
    release()
    await closing
    const files = await readdir(join(root, 'c', 'manifests'))
    expect(files).toEqual([cid.toString()])
  })

  it('defaultDataDir follows IMGP2P_DATA_DIR', () => {
    const old = process.env.IMGP2P_DATA_DIR
    try {
      process.env.IMGP2P_DATA_DIR = '/tmp/x'
      expect(defaultDataDir()).toBe('/tmp/x')
      delete process.env.IMGP2P_DATA_DIR
      expect(defaultDataDir()).toBe('/var/lib/imgp2p')
    } finally {
      if (old != null) process.env.IMGP2P_DATA_DIR = old
    }
  })
})

describe('PartialImage', () => {
  const cs = 64 * KiB

  it('holds zero chunks from the start, writes verified chunks, and reports progress', async () => {
    const { cid, manifest, data } = await seed('DZDZD', cs, 10)
    const s = await store('t')
    const p = await s.openPartial(cid, manifest)
    expect(await s.openPartial(cid, manifest)).toBe(p) // one writer per image
    expect(p.have.count).toBe(2)
    expect(await p.writeChunk(1, Buffer.alloc(cs))).toBe(false) // zero chunk: already held
    expect(await p.writeChunk(0, chunkOf(manifest, data, 0))).toBe(true)
    expect(await p.writeChunk(0, chunkOf(manifest, data, 0))).toBe(false)
    expect(await s.info(cid)).toMatchObject({ haveCount: 3, complete: false, chunkCount: 5 })
    expect(Buffer.from((await s.readChunk(cid, 0))!).equals(chunkOf(manifest, data, 0))).toBe(true)
    expect(await s.readChunk(cid, 2)).toBeUndefined()
    expect(Buffer.from((await p.readChunk(1))!).equals(Buffer.alloc(cs))).toBe(true)
    await expect(p.writeChunk(5, Buffer.alloc(1))).rejects.toThrow(RangeError)
    await expectName(p.finish(), 'Imgp2pError') // not complete yet
    // Two writers racing for one chunk: one writes it.
    const both = await Promise.all([p.writeChunk(2, chunkOf(manifest, data, 2)), p.writeChunk(2, chunkOf(manifest, data, 2))])
    expect(both.sort()).toEqual([false, true])
    await p.close()
    const again = await s.openPartial(cid, manifest)
    expect(again).not.toBe(p)
    await again.close()
  })

  it('rejects wrong bytes with ChunkHashMismatchError and writes nothing', async () => {
    const { cid, manifest, data } = await seed('DDD', cs)
    const s = await store('t')
    const p = await s.openPartial(cid, manifest)
    const out = join(root, 'out.img')
    await p.attachOutput(out)
    const bad = Buffer.from(chunkOf(manifest, data, 1)); bad[100] ^= 1
    await expectName(p.writeChunk(1, bad), 'ChunkHashMismatchError')
    await expectName(p.writeChunk(1, chunkOf(manifest, data, 0)), 'ChunkHashMismatchError') // another chunk's bytes
    await expectName(p.writeChunk(1, chunkOf(manifest, data, 1).subarray(1)), 'ChunkHashMismatchError')
    expect(p.have.count).toBe(0)
    await p.flush()
    const part = join(s.dataDir, 'partial', `${cid}.part`)
    expect(await diskBytes(part)).toBe(0)
    expect(await diskBytes(out + '.imgp2p-part')).toBe(0)
    expect((await readFile(part)).equals(Buffer.alloc(data.length))).toBe(true)
    await p.close()
    expect(existsSync(out + '.imgp2p-part')).toBe(false) // an abandoned pull leaves nothing beside the output
  })

  it('takes a chunk in the parts it arrived in, verified and written without gathering them', async () => {
    const { cid, manifest, data } = await seed('DD', cs)
    const s = await store('t')
    const p = await s.openPartial(cid, manifest)
    const out = join(root, 'parts.img')
    await p.attachOutput(out)
    const c0 = chunkOf(manifest, data, 0)
    const bad = [c0.subarray(0, 1000), Buffer.from(c0.subarray(1000))]
    bad[1][5] ^= 1
    await expectName(p.writeChunk(0, bad), 'ChunkHashMismatchError')
    expect(p.have.count).toBe(0)
    // Uneven parts, an empty one among them, as a muxer may deliver them.
    expect(await p.writeChunk(0, [c0.subarray(0, 1), new Uint8Array(0), c0.subarray(1, 30_001), c0.subarray(30_001)])).toBe(true)
    await feed(p, data, [1])
    await p.finish()
    expect((await readFile(out)).equals(data)).toBe(true)
    expect((await readFile((await s.completePath(cid))!)).equals(data)).toBe(true)
  })

  it('appears in images/ and at the output path only when finished', async () => {
    const { cid, manifest, data } = await seed('DZDD', cs, 5)
    const s = await store('t')
    const out = join(root, 'out.img')
    const p = await s.openPartial(cid, manifest)
    await p.attachOutput(out)
    await feed(p, data, [0, 2])
    expect(await s.completePath(cid)).toBeUndefined()
    expect(existsSync(out)).toBe(false)
    await feed(p, data, [3])
    expect(p.complete).toBe(true)
    expect(existsSync(out)).toBe(false)
    const path = await p.finish()
    expect(path).toBe(join(s.dataDir, 'images', cid.toString()))
    expect((await readFile(path)).equals(data)).toBe(true)
    expect((await readFile(out)).equals(data)).toBe(true)
    expect(existsSync(out + '.imgp2p-part')).toBe(false)
    expect(await readdir(join(s.dataDir, 'partial'))).toEqual([])
    expect(await s.info(cid)).toMatchObject({ complete: true, haveCount: 4 })
  })

  it('attachOutput copies chunks already held, then takes the rest as they arrive', async () => {
    const { cid, manifest, data } = await seed('DDZDDD', cs)
    const s = await store('t')
    const p = await s.openPartial(cid, manifest)
    await feed(p, data, [0, 3])
    const out = join(root, 'out.img')
    await p.attachOutput(out)
    await p.attachOutput(out) // same path again: nothing to do
    await feed(p, data, [1, 4, 5])
    await p.finish()
    expect((await readFile(out)).equals(data)).toBe(true)
  })

  it('a second output attached while a chunk is being written still gets that chunk', async () => {
    const { cid, manifest, data } = await seed('DDD', cs)
    // Hold the cache write of a chunk until we say so.
    let entered!: () => void
    const reached = new Promise<void>(resolve => { entered = resolve })
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    const gated: OpenFile = async (path, flags, mode) => {
      const fh = await openFile(path, flags, mode)
      if (!path.endsWith('.part')) return fh
      return { ...passThrough(fh), write: async (buf, off, len, pos) => { entered(); await gate; return await fh.write(buf, off, len, pos) } }
    }
    const s = await store('t', { open: gated })
    const p = await s.openPartial(cid, manifest)
    const out = join(root, 'out.img')
    const out2 = join(root, 'out2.img')
    await p.attachOutput(out)
    const writing = p.writeChunk(1, chunkOf(manifest, data, 1))
    await reached
    await p.attachOutput(out2) // chunk 1 is not held yet, so this copies nothing
    release()
    expect(await writing).toBe(true)
    await feed(p, data, [0, 2])
    await p.finish()
    expect((await readFile(out)).equals(data)).toBe(true)
    expect((await readFile(out2)).equals(data)).toBe(true)
  })

  it('attachOutput on an image already complete in the cache produces the file', async () => {
    const { cid, manifest, data } = await seed('DZD', cs)
    const s = await store('seeder')
    const p = await s.openPartial(cid, manifest)
    expect(p.complete).toBe(true)
    const out = join(root, 'out.img')
    await p.attachOutput(out)
    expect(await p.finish()).toBe(join(s.dataDir, 'images', cid.toString()))
    expect((await readFile(out)).equals(data)).toBe(true)
  })

  it('attachOutput to an unwritable place throws OutputNotWritableError naming the path', async () => {
    const { cid, manifest } = await seed('DD', cs)
    const s = await store('t')
    const p = await s.openPartial(cid, manifest)
    const missingDir = join(root, 'no', 'such', 'dir', 'out.img')
    const err = await expectName(p.attachOutput(missingDir), 'OutputNotWritableError')
    expect(err.message).toContain(missingDir)
    await writeFile(join(root, 'afile'), 'x')
    await expectName(p.attachOutput(join(root, 'afile', 'out.img')), 'OutputNotWritableError')
    await p.close()
  })

  it('resumes after being dropped without close: recorded chunks are held and valid', async () => {
    const { cid, manifest, data } = await seed('DDZDDDDD', cs)
    const dir = 'crash'
    // No background flush: only the explicit flush() below is recorded.
    const a = await store(dir, { flushChunks: 1e9, flushIntervalMs: 1e9 })
    const p = await a.openPartial(cid, manifest)
    await feed(p, data, [0, 1, 3])
    await p.flush()
    await feed(p, data, [4, 5]) // written but not recorded: lost in the "crash"
    // Dropped: no close(). A new process opens the same dir.
    const b = await store(dir)
    const q = await b.openPartial(cid, manifest)
    expect(q).not.toBe(p)
    expect([...q.have.indexes()]).toEqual([0, 1, 2, 3])
    for (const i of q.have.indexes()) expect(Buffer.from((await q.readChunk(i))!).equals(chunkOf(manifest, data, i))).toBe(true)
    expect(await b.info(cid)).toMatchObject({ haveCount: 4 })
    await feed(q, data, [4, 5, 6, 7])
    expect((await readFile(await q.finish())).equals(data)).toBe(true)
  })

  it('starts a pull before its manifest is on disk, but records progress and finishes only after', async () => {
    const { path, data } = await makeImage('src-manifest', 'DDDD', cs)
    const seeder = await store('seeder-m')
    const { cid } = await seeder.importFile(path, { chunkSize: cs })
    const bytes = (await seeder.getManifestBytes(cid))!
    // Hold the manifest's fdatasync until we say so.
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    const gated: OpenFile = async (p, flags, mode) => {
      const fh = await openFile(p, flags, mode)
      if (!p.includes('/manifests/')) return fh
      return { ...passThrough(fh), datasync: async () => { await gate; await fh.datasync() } }
    }
    const s = await store('m', { open: gated, flushChunks: 1e9, flushIntervalMs: 1e9 })
    const manifest = await s.putManifest(cid, bytes, { durable: false })
    expect(await s.getManifestBytes(cid)).toEqual(bytes) // peers can have it meanwhile
    const p = await s.openPartial(cid, manifest)
    await feed(p, data, [0, 1])
    const flushing = p.flush()
    await new Promise(resolve => setTimeout(resolve, 100))
    const have = join(root, 'm', 'partial', `${cid.toString()}.have`)
    expect(existsSync(have)).toBe(false) // a record without its manifest could not be resumed
    release()
    await flushing
    expect(existsSync(have)).toBe(true)
    expect(await readFile(join(root, 'm', 'manifests', cid.toString()))).toEqual(Buffer.from(bytes))
    await feed(p, data, [2, 3])
    expect((await readFile(await p.finish())).equals(data)).toBe(true)
  })

  it('ignores a damaged or foreign .have record and starts clean', async () => {
    const one = await seed('DDD', cs)
    const two = await seed('DDZ', cs)
    const s = await store('t')
    const p = await s.openPartial(one.cid, one.manifest)
    await feed(p, one.data, [0, 1])
    await p.close()
    const have = join(s.dataDir, 'partial', `${one.cid}.have`)
    const record = await readFile(have)
    // Flip one bit: the record's checksum no longer holds.
    const damaged = Buffer.from(record); damaged[damaged.length - 40] ^= 1
    await writeFile(have, damaged)
    const q = await s.openPartial(one.cid, one.manifest)
    expect(q.have.count).toBe(0)
    await feed(q, one.data, [0])
    await q.close()
    // Another image's (sound) record under this name.
    const r = await s.openPartial(two.cid, two.manifest)
    await feed(r, two.data, [0, 1])
    await r.close()
    await writeFile(have, await readFile(join(s.dataDir, 'partial', `${two.cid}.have`)))
    const t = await s.openPartial(one.cid, one.manifest)
    expect(t.have.count).toBe(0)
    await t.close()
  })

  it('survives SIGKILL mid-pull with every recorded chunk valid', async () => {
    const node = resolve('node_modules/.bin/node') // Node 24: strips types, has module.registerHooks
    if (!existsSync(node)) return
    const { cid, manifest, data } = await seed('D'.repeat(64), cs)
    const dir = join(root, 'killed')
    const src = join(root, 'src-' + 'D'.repeat(64))
    const child = join(root, 'child.mjs')
    await writeFile(join(root, 'manifest.cbor'), (await (await store('seeder')).getManifestBytes(cid))!)
    // Plain Node 24 runs our .ts sources if './x.js' imports resolve to './x.ts'.
    await writeFile(child, `
      import { registerHooks } from 'node:module'
      import { readFile } from 'node:fs/promises'
      registerHooks({ resolve (spec, ctx, next) {
        try { return next(spec, ctx) } catch (err) {
          if (spec.startsWith('.') && spec.endsWith('.js')) return next(spec.slice(0, -3) + '.ts', ctx)
          throw err
        }
      } })
      const { FsImageStore } = await import(${JSON.stringify(resolve('src/cache/image-store.ts'))})
      const { decodeManifest, manifestCid } = await import(${JSON.stringify(resolve('src/chunking/manifest.ts'))})
      const [dir, src, manifestFile] = process.argv.slice(2)
      const bytes = await readFile(manifestFile)
      const data = await readFile(src)
      const s = await FsImageStore.open(dir, { flushChunks: 4, flushIntervalMs: 20 })
      const p = await s.openPartial(manifestCid(bytes), decodeManifest(bytes))
      const cs = p.manifest.chunkSize
      for (let i = 0; i < p.manifest.chunks.length; i++) {
        await p.writeChunk(i, data.subarray(i * cs, (i + 1) * cs))
        await new Promise(r => setTimeout(r, 10))
      }
      setInterval(() => {}, 1000)
    `)
    const proc = spawn(node, ['--no-warnings', child, dir, src, join(root, 'manifest.cbor')], { cwd: resolve('.'), stdio: ['ignore', 'ignore', 'inherit'] })
    // Killed mid-write once its record on disk holds 8 chunks or more: how
    // soon that is depends on the disk's fsync, not on a count of writes.
    const recorded = async (): Promise<number> => {
      const bytes = await readFile(join(dir, 'partial', `${cid.toString()}.have`)).catch(() => undefined)
      return bytes == null ? 0 : decodeHave(bytes, cid, manifest.chunks.length)?.count ?? 0
    }
    await new Promise<void>((resolve, reject) => {
      let checking = false
      const poll = setInterval(() => {
        if (checking) return
        checking = true
        void recorded().then(n => {
          checking = false
          if (n >= 8) { clearInterval(poll); proc.kill('SIGKILL'); resolve() }
        }, (err: Error) => { clearInterval(poll); reject(err) })
      }, 5)
      proc.on('exit', code => { if (code !== null) { clearInterval(poll); reject(new Error(`child exited with ${code} before its record held 8 chunks`)) } })
    })
    await new Promise(resolve => proc.on('close', resolve))
    const s = await store('killed')
    const p = await s.openPartial(cid, manifest)
    expect(p.have.count).toBeGreaterThanOrEqual(8) // several records were made before the kill
    expect(p.have.count).toBeLessThan(64)
    for (const i of p.have.indexes()) expect(Buffer.from((await p.readChunk(i))!).equals(chunkOf(manifest, data, i))).toBe(true)
    await feed(p, data, [...Array(64).keys()].filter(i => !p.have.has(i)))
    expect((await readFile(await p.finish())).equals(data)).toBe(true)
  })
})

describe('sparse images', () => {
  it('a mostly-zero 64 MiB image takes little disk after import, after a pull, at the output, and after export', async () => {
    const pattern = 'D' + 'Z'.repeat(30) + 'D' + 'Z'.repeat(31) + 'D' // 65 chunks of 1 MiB, 3 with data
    const { path, data } = await makeImage('big', pattern, MiB, 123)
    const seeder = await store('seeder')
    const { cid, manifest } = await seeder.importFile(path, { chunkSize: MiB })
    const limit = 4 * MiB
    expect(await diskBytes((await seeder.completePath(cid))!)).toBeLessThan(limit)
    const s = await store('t')
    const p = await s.openPartial(cid, manifest)
    const out = join(root, 'out.img')
    await p.attachOutput(out)
    await feed(p, data)
    expect(await diskBytes(join(s.dataDir, 'partial', `${cid}.part`))).toBeLessThan(limit)
    await p.finish()
    expect(await diskBytes((await s.completePath(cid))!)).toBeLessThan(limit)
    expect(await diskBytes(out)).toBeLessThan(limit)
    expect((await stat(out)).size).toBe(data.length)
    expect((await readFile(out)).equals(data)).toBe(true)
    const exported = join(root, 'exported.img')
    await s.exportTo(cid, exported)
    expect(await diskBytes(exported)).toBeLessThan(limit)
  })
})

describe('exportTo', () => {
  it('produces identical bytes, atomically, and reports copy on ext4', async () => {
    const { cid, data } = await seed('DZDDZ', 64 * KiB, 77)
    const s = await store('seeder')
    const out = join(root, 'exp.img')
    const res = await s.exportTo(cid, out)
    expect(res.path).toBe(out)
    if ((await statfs(root)).type === 0xef53) expect(res.method).toBe('copy') // ext4 has no reflink
    expect((await readFile(out)).equals(data)).toBe(true)
    expect(existsSync(out + '.imgp2p-part')).toBe(false)
    // Replacing an existing file works and stays atomic.
    await writeFile(out, 'old')
    await s.exportTo(cid, out)
    expect((await readFile(out)).equals(data)).toBe(true)
  })

  it('fails with NotFoundError for an image not complete here, OutputNotWritableError for a bad path, and honours abort', async () => {
    const { cid, manifest } = await seed('DDDD', 64 * KiB)
    const s = await store('t')
    await (await s.openPartial(cid, manifest)).close()
    await expectName(s.exportTo(cid, join(root, 'x.img')), 'NotFoundError')
    const seeder = await store('seeder')
    await expectName(seeder.exportTo(cid, join(root, 'missing', 'x.img')), 'OutputNotWritableError')
    const ac = new AbortController(); ac.abort()
    await expectName(seeder.exportTo(cid, join(root, 'y.img'), ac.signal), 'AbortError')
    expect(existsSync(join(root, 'y.img'))).toBe(false)
  })
})

describe('disk full', () => {
  /** Opens files normally, but writes to files matching `match` fail with ENOSPC after `budget` bytes. */
  function fullDisk (match: RegExp, budget: number): OpenFile {
    return async (path, flags, mode) => {
      const fh = await openFile(path, flags, mode)
      if (!match.test(path)) return fh
      let left = budget
      const write: ChunkFile['write'] = async (buf, off, len, pos) => {
        if (len > left) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
        left -= len
        return await fh.write(buf, off, len, pos)
      }
      return { ...passThrough(fh), write }
    }
  }
  const cs = 64 * KiB

  it('writeChunk maps ENOSPC on the cache to DiskFullError and does not count the chunk', async () => {
    const { cid, manifest, data } = await seed('DDD', cs)
    const s = await store('t', { open: fullDisk(/\.part$/, cs) })
    const p = await s.openPartial(cid, manifest)
    await feed(p, data, [0])
    await expectName(p.writeChunk(1, chunkOf(manifest, data, 1)), 'DiskFullError')
    expect([...p.have.indexes()]).toEqual([0])
    await p.close()
  })

  it('writeChunk maps ENOSPC on the output to DiskFullError', async () => {
    const { cid, manifest, data } = await seed('DDD', cs)
    const s = await store('t', { open: fullDisk(/imgp2p-part$/, 0) })
    const p = await s.openPartial(cid, manifest)
    await p.attachOutput(join(root, 'out.img'))
    await expectName(p.writeChunk(0, chunkOf(manifest, data, 0)), 'DiskFullError')
    expect(p.have.count).toBe(0)
    await p.close()
    await s.close() // its manifest may still be being written
  })

  it('a manifest stored in the background that fails fails the pull\'s record, and no record appears', async () => {
    const { path, data } = await makeImage('src-mfull', 'DDD', cs)
    const seeder = await store('seeder-mfull')
    const { cid } = await seeder.importFile(path, { chunkSize: cs })
    const s = await store('t', { open: fullDisk(/\/manifests\//, 0), flushChunks: 1e9, flushIntervalMs: 1e9 })
    const manifest = await s.putManifest(cid, (await seeder.getManifestBytes(cid))!, { durable: false })
    const p = await s.openPartial(cid, manifest)
    await feed(p, data, [0])
    await expectName(p.flush(), 'DiskFullError')
    expect(existsSync(join(root, 't', 'partial', `${cid.toString()}.have`))).toBe(false)
    await p.close().catch(() => {})
  })

  it('importFile maps ENOSPC to DiskFullError and leaves no temp file', async () => {
    const { path } = await makeImage('img', 'DDDD', cs)
    const s = await store('t', { open: fullDisk(/import-.*\.tmp$/, 2 * cs) })
    await expectName(s.importFile(path, { chunkSize: cs }), 'DiskFullError')
    expect(await readdir(join(s.dataDir, 'partial'))).toEqual([])
    expect(await s.list()).toEqual([])
  })

  it('a real full tmpfs gives DiskFullError at the output', async () => {
    const mnt = join(root, 'small')
    await mkdir(mnt)
    const { execFileSync } = await import('node:child_process')
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { stdio: 'ignore' })
    } catch {
      return // not permitted here; the injected faults above cover the mapping
    }
    try {
      const { cid, manifest, data } = await seed('DDDDDDDD', 256 * KiB)
      const s = await store('t')
      const p = await s.openPartial(cid, manifest)
      await p.attachOutput(join(mnt, 'out.img'))
      await expectName(feed(p, data), 'DiskFullError')
      await p.close()
    } finally {
      execFileSync('umount', [mnt])
    }
  })
})

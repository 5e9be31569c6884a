/**
 * The on-disk cache (layout in types.ts). One process owns a data dir.
 */
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { mkdir, open as fsOpen, readFile, readdir, rename, rm, stat } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { chunkHandle } from '../chunking/chunker.js'
import { isImageCid, isZeroCid } from '../chunking/cid.js'
import { chunkSizeFor } from '../chunking/constants.js'
import { chunkLength, chunkOffset, decodeManifest, encodeManifest, isZeroChunk, manifestCid, markZeroChunks } from '../chunking/manifest.js'
import type { Manifest } from '../chunking/manifest.js'
import type { HashPool } from '../chunking/verify.js'
import { InvalidManifestError, NotFoundError, fsError } from '../errors.js'
import { Bitfield } from '../util/bitfield.js'
import { exportImage } from './export.js'
import { fileIdentity, ImportIndex, sameIdentity } from './import-index.js'
import { openFile, readExactly, syncDir, writeAll, writeFileAtomic } from './files.js'
import type { ChunkFile, OpenFile } from './files.js'
import { decodeHave, encodeHave } from './have-record.js'
import { FsPartialImage } from './partial-image.js'
import { ReadHandles } from './read-handles.js'
import { scrubChunks, type ScrubOptions } from './scrub.js'
import type { FileIdentity } from './import-index.js'
import type { ExportResult, ImageExporter, ImageInfo, ImageStore, ImportOptions, ImportResult, PartialImage, VerifyResult } from './types.js'

export interface FsImageStoreOptions {
  /** Opens every file the store writes; tests wrap it to inject faults. */
  open?: OpenFile
  /** Hashes received chunks; default: verifyChunk's shared pool. */
  hashPool?: HashPool
  flushIntervalMs?: number
  flushChunks?: number
}

// Temp files older than this are leftovers of a crash, not a running import.
const STALE_TMP_MS = 60 * 60 * 1000
const RW_CREATE = constants.O_RDWR | constants.O_CREAT

export class FsImageStore implements ImageStore, ImageExporter {
  readonly dataDir: string
  private readonly open: OpenFile
  private readonly partials = new Map<string, Promise<FsPartialImage>>()
  private readonly manifests = new Map<string, Manifest>()
  /** Manifests being written in the background (putManifest with durable: false): their bytes, and the write. */
  private readonly manifestWrites = new Map<string, { bytes: Uint8Array, done: Promise<void> }>()
  private readonly readHandles = new ReadHandles()
  /** Scrubs under way (verify): a pull of that image opens its files after the scrub is done. */
  private readonly scrubs = new Map<string, Promise<unknown>>()
  private imports!: ImportIndex

  private readonly options: FsImageStoreOptions

  private constructor (dataDir: string, options: FsImageStoreOptions) {
    this.options = options
    this.dataDir = dataDir
    this.open = options.open ?? openFile
  }

  static async open (dataDir: string, options: FsImageStoreOptions = {}): Promise<FsImageStore> {
    const store = new FsImageStore(dataDir, options)
    try {
      for (const d of ['manifests', 'images', 'partial']) await mkdir(join(dataDir, d), { recursive: true })
      store.imports = await ImportIndex.open(join(dataDir, 'imports.json'))
    } catch (err) {
      throw fsError(err, `creating the data dir ${dataDir}`)
    }
    await store.removeStaleTemps()
    return store
  }

  private manifestPath (cid: CID): string { return join(this.dataDir, 'manifests', cid.toString()) }
  private imagePath (cid: CID): string { return join(this.dataDir, 'images', cid.toString()) }
  private partPath (cid: CID): string { return join(this.dataDir, 'partial', `${cid.toString()}.part`) }
  private havePath (cid: CID): string { return join(this.dataDir, 'partial', `${cid.toString()}.have`) }

  async importFile (file: string, options: ImportOptions = {}): Promise<ImportResult> {
    const tmp = join(this.dataDir, 'partial', `import-${randomBytes(6).toString('hex')}.tmp`)
    let src: FileHandle
    try {
      src = await fsOpen(file, 'r')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`no such file: ${file}`, { cause: err })
      throw err
    }
    let result
    let before: FileIdentity | undefined
    let chunkSize: number
    try {
      before = fileIdentity(await src.stat({ bigint: true }))
      const size = Number(before.size)
      chunkSize = options.chunkSize ?? chunkSizeFor(size)
      const known = await this.knownImport(before, chunkSize)
      if (known != null) return { ...known, reused: true }
      const out = await this.open(tmp, 'w', 0o644)
      try {
        await out.truncate(size) // sparse from the start: zero chunks are never written
        result = await chunkHandle(src, {
          chunkSize,
          signal: options.signal,
          onProgress: options.onProgress,
          onChunk: async (i, bytes, cid) => {
            if (!isZeroCid(cid, bytes.length)) await writeAll(out, bytes, i * chunkSize)
          }
        })
        await out.truncate(result.manifest.size)
        await out.datasync()
      } finally {
        await out.close()
      }
      // A file written to while we read it is not recorded as unchanged: its
      // bytes may be a mix, though the image we keep is what its CID says.
      if (!sameIdentity(before, fileIdentity(await src.stat({ bigint: true })))) before = undefined
    } catch (err) {
      await rm(tmp, { force: true })
      throw fsError(err, `importing ${file}`)
    } finally {
      await src.close()
    }
    const { cid, manifest, bytes } = result
    try {
      // Manifest before image: an image in images/ always has its manifest.
      await this.putManifest(cid, bytes)
      if (await exists(this.imagePath(cid))) {
        await rm(tmp, { force: true }) // already cached: the CID says it is the same image
      } else {
        await rename(tmp, this.imagePath(cid))
        await syncDir(join(this.dataDir, 'images'))
      }
    } catch (err) {
      await rm(tmp, { force: true })
      throw fsError(err, `importing ${file}`)
    }
    if (!this.partials.has(cid.toString())) await this.removePartialFiles(cid)
    // Failing to write the record (a full disk) must not fail this add, whose
    // image is in place: a later add reads the file again, and a restart
    // forgets that the image entered here.
    await this.imports.record(file, before, chunkSize, cid.toString()).catch(() => {})
    return { cid, manifest, reused: false }
  }

  private async knownImport (id: FileIdentity, chunkSize: number): Promise<{ cid: CID, manifest: Manifest } | undefined> {
    const text = this.imports.lookup(id, chunkSize)
    if (text == null) return undefined
    const cid = CID.parse(text)
    const manifest = await this.getManifest(cid)
    // Removed since (imgp2p rm): import it again.
    return manifest != null && await exists(this.imagePath(cid)) ? { cid, manifest } : undefined
  }

  addedImages (): string[] {
    return this.imports.addedImages()
  }

  async putManifest (cid: CID, bytes: Uint8Array, options: { durable?: boolean } = {}): Promise<Manifest> {
    if (!isImageCid(cid) || !manifestCid(bytes).equals(cid)) throw new InvalidManifestError(`manifest bytes do not hash to ${cid}`)
    const manifest = decodeManifest(bytes)
    const key = cid.toString()
    this.manifests.set(key, manifest)
    let write = this.manifestWrites.get(key)?.done
    if (write == null && !await exists(this.manifestPath(cid))) {
      // Its fdatasync took up to 0.85 s with 16 daemons starting pulls on one
      // disk, all of it before the first chunk request (FINDINGS session 6 C).
      // A failed write stays in the map, so whoever waits for it hears of it.
      const done = writeFileAtomic(this.manifestPath(cid), bytes, `storing the manifest of ${cid}`, this.open)
        .then(() => { this.manifestWrites.delete(key) })
      this.manifestWrites.set(key, { bytes, done })
      done.catch(() => {}) // reported to the waiters: the partial's manifestStored
      write = done
    }
    if (options.durable !== false) await write
    return manifest
  }

  async getManifestBytes (cid: CID): Promise<Uint8Array | undefined> {
    const pending = this.manifestWrites.get(cid.toString())
    if (pending != null) return pending.bytes
    let bytes: Uint8Array
    try {
      bytes = await readFile(this.manifestPath(cid))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
    // Disk is not trusted more than a peer: what we hand out must hash to its name.
    if (!manifestCid(bytes).equals(cid)) throw new InvalidManifestError(`the cached manifest of ${cid} is damaged; remove the image and pull it again`)
    return bytes
  }

  async getManifest (cid: CID): Promise<Manifest | undefined> {
    const cached = this.manifests.get(cid.toString())
    if (cached != null) return cached
    const bytes = await this.getManifestBytes(cid)
    if (bytes == null) return undefined
    const manifest = decodeManifest(bytes)
    this.manifests.set(cid.toString(), manifest)
    return manifest
  }

  async list (): Promise<ImageInfo[]> {
    const names = await readdir(join(this.dataDir, 'manifests'))
    const infos: ImageInfo[] = []
    for (const name of names.sort()) {
      let cid: CID
      try { cid = CID.parse(name) } catch { continue } // temp files of atomic writes
      const info = await this.info(cid)
      if (info != null) infos.push(info)
    }
    return infos
  }

  async info (cid: CID): Promise<ImageInfo | undefined> {
    const manifest = await this.getManifest(cid)
    if (manifest == null) return undefined
    const complete = await exists(this.imagePath(cid))
    let haveCount = complete ? manifest.chunks.length : 0
    if (!complete) {
      const open = this.partials.get(cid.toString())
      haveCount = open != null ? (await open).have.count : (await this.recordedHave(cid, manifest))?.count ?? 0
    }
    return { cid: cid.toString(), size: manifest.size, chunkSize: manifest.chunkSize, chunkCount: manifest.chunks.length, haveCount, complete }
  }

  async completePath (cid: CID): Promise<string | undefined> {
    return await exists(this.imagePath(cid)) ? this.imagePath(cid) : undefined
  }

  async diskUsage (cid: CID): Promise<{ bytes: number, changedMs: number } | undefined> {
    for (const path of [this.imagePath(cid), this.partPath(cid)]) {
      const st = await stat(path).catch(() => undefined)
      if (st != null) return { bytes: st.blocks * 512, changedMs: st.mtimeMs }
    }
    return undefined
  }

  async openPartial (cid: CID, manifest: Manifest): Promise<PartialImage> {
    const key = cid.toString()
    let p = this.partials.get(key)
    if (p == null) {
      const scrub = this.scrubs.get(key)
      // A scrub rewrites the record this would load: take the record it leaves.
      p = scrub == null ? this.createPartial(cid, manifest) : scrub.catch(() => {}).then(async () => await this.createPartial(cid, manifest))
      this.partials.set(key, p)
      p.catch(() => { if (this.partials.get(key) === p) this.partials.delete(key) })
    }
    return await p
  }

  private async createPartial (cid: CID, manifest: Manifest): Promise<FsPartialImage> {
    const key = cid.toString()
    // Checks the manifest is the one `cid` names, unless putManifest just did.
    if (this.manifests.get(key) !== manifest) await this.putManifest(cid, encodeManifest(manifest), { durable: false })
    const paths = { part: this.partPath(cid), have: this.havePath(cid), image: this.imagePath(cid) }
    const partialOptions = {
      open: this.open,
      hashPool: this.options.hashPool,
      flushIntervalMs: this.options.flushIntervalMs,
      flushChunks: this.options.flushChunks,
      // Resolves at once unless the manifest is still being written (or its write failed).
      manifestStored: async () => { await this.manifestWrites.get(key)?.done },
      onDone: () => { this.partials.delete(key) }
    }
    // Side by side, and no separate unlink: with 16 pulls starting on two
    // cores, each await here waits its turn for a core (FINDINGS.md session 9 D).
    const [complete, recorded] = await Promise.all([exists(paths.image), this.recordedHave(cid, manifest)])
    if (complete) {
      const fh = await this.open(paths.image, 'r')
      return new FsPartialImage(cid, manifest, Bitfield.full(manifest.chunks.length), fh, paths, partialOptions, true)
    }
    let fh: ChunkFile
    try {
      // Without a sound record nothing in an old .part can be trusted; start it
      // empty (O_TRUNC) so zero chunks (never written) are certainly holes.
      fh = await this.open(paths.part, recorded == null ? RW_CREATE | constants.O_TRUNC : RW_CREATE, 0o644)
      await fh.truncate(manifest.size)
    } catch (err) {
      throw fsError(err, `creating ${paths.part}`)
    }
    const have = markZeroChunks(manifest, recorded ?? new Bitfield(manifest.chunks.length))
    return new FsPartialImage(cid, manifest, have, fh, paths, partialOptions, false)
  }

  /** The `.have` record on disk, if it is a sound one for this image. */
  private async recordedHave (cid: CID, manifest: Manifest): Promise<Bitfield | undefined> {
    try {
      return decodeHave(await readFile(this.havePath(cid)), cid, manifest.chunks.length)
    } catch {
      return undefined
    }
  }

  async readChunk (cid: CID, index: number): Promise<Uint8Array | undefined> {
    const open = this.partials.get(cid.toString())
    if (open != null) {
      // A pull that is finishing hands over to images/ between these two reads.
      const data = await (await open).readChunk(index).catch(() => undefined)
      if (data != null) return data
    }
    const manifest = await this.getManifest(cid)
    if (manifest == null || !Number.isInteger(index) || index < 0 || index >= manifest.chunks.length) return undefined
    const len = chunkLength(manifest, index)
    const complete = await this.readHandles.use(this.imagePath(cid), async fh => {
      return isZeroChunk(manifest, index) ? new Uint8Array(len) : await readExactly(fh, len, chunkOffset(manifest, index))
    })
    if (complete != null) return complete
    if ((await this.recordedHave(cid, manifest))?.has(index) !== true) return undefined
    if (isZeroChunk(manifest, index)) return new Uint8Array(len)
    const fh = await fsOpen(this.partPath(cid), 'r')
    try {
      return await readExactly(fh, len, chunkOffset(manifest, index))
    } finally {
      await fh.close()
    }
  }

  async verify (cid: CID, options: ScrubOptions = {}): Promise<VerifyResult> {
    const key = cid.toString()
    if (this.partials.has(key) || this.scrubs.has(key)) return { cid: key, state: 'busy', checked: 0, bad: [] }
    // Registered before any await: a pull that opens the image from here on waits for the scrub.
    const run = this.scrub(cid, { hashPool: this.options.hashPool, ...options })
    this.scrubs.set(key, run)
    try {
      return await run
    } finally {
      this.scrubs.delete(key)
    }
  }

  private async scrub (cid: CID, options: ScrubOptions): Promise<VerifyResult> {
    const manifest = await this.getManifest(cid)
    if (manifest == null) throw new NotFoundError(`image ${cid.toString()} is not in the cache`)
    const key = cid.toString()
    const image = this.imagePath(cid)
    const complete = await exists(image)
    const held = complete ? Bitfield.full(manifest.chunks.length) : await this.recordedHave(cid, manifest)
    if (held == null) return { cid: key, state: 'partial', checked: 0, bad: [] }
    const path = complete ? image : this.partPath(cid)
    let result
    try {
      const fh = await this.open(path, 'r')
      try { result = await scrubChunks(fh, manifest, held, options) } finally { await fh.close() }
    } catch (err) {
      throw fsError(err, `reading ${path}`)
    }
    if (result.bad.length === 0) return { cid: key, state: complete ? 'complete' : 'partial', ...result }
    for (const i of result.bad) held.clear(i)
    // The record first: a crash before the rename leaves the image complete
    // (and a stale record beside it), never a partial that trusts bad chunks.
    await writeFileAtomic(this.havePath(cid), encodeHave(cid, held), `recording the chunks of ${key} still sound`, this.open)
    if (complete) {
      await this.readHandles.drop(image)
      try {
        await rename(image, this.partPath(cid))
        await syncDir(join(this.dataDir, 'images'))
        await syncDir(join(this.dataDir, 'partial'))
      } catch (err) {
        throw fsError(err, `moving ${image} back to partial/`)
      }
    }
    return { cid: key, state: complete ? 'complete' : 'partial', ...result }
  }

  async exportTo (cid: CID, path: string, signal?: AbortSignal): Promise<ExportResult> {
    const manifest = await this.getManifest(cid)
    const src = await this.completePath(cid)
    if (manifest == null || src == null) throw new NotFoundError(`image ${cid} is not complete in the cache`)
    return await exportImage(src, manifest, path, this.open, signal)
  }

  async close (): Promise<void> {
    // A manifest still being written in the background (putManifest with
    // durable: false) finishes first: a stopping daemon leaves no temp file.
    await Promise.allSettled([...this.manifestWrites.values()].map(async w => { await w.done }))
    await this.readHandles.closeAll()
  }

  async remove (cid: CID): Promise<boolean> {
    const open = this.partials.get(cid.toString())
    if (open != null) await (await open).close().catch(() => {})
    await this.readHandles.drop(this.imagePath(cid))
    let removed = false
    for (const p of [this.imagePath(cid), this.partPath(cid), this.havePath(cid), this.manifestPath(cid)]) {
      if (await exists(p)) { await rm(p, { force: true }); removed = true }
    }
    this.manifests.delete(cid.toString())
    await this.imports.forget(cid.toString())
    return removed
  }

  private async removePartialFiles (cid: CID): Promise<void> {
    await rm(this.partPath(cid), { force: true })
    await rm(this.havePath(cid), { force: true })
  }

  private async removeStaleTemps (): Promise<void> {
    const now = Date.now()
    for (const d of ['.', 'manifests', 'images', 'partial']) {
      const dir = join(this.dataDir, d)
      for (const name of await readdir(dir)) {
        if (!name.endsWith('.tmp')) continue
        const p = join(dir, name)
        const st = await stat(p).catch(() => undefined)
        if (st != null && now - st.mtimeMs > STALE_TMP_MS) await rm(p, { force: true })
      }
    }
  }
}

async function exists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

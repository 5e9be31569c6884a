/**
 * A pull in progress: a sparse `.part` file of the full size plus a `.have`
 * record of which chunks in it are verified.
 *
 * Crash safety: a chunk enters the `.have` record only after its bytes were
 * written and the `.part` was fdatasync'ed, and the record is replaced
 * atomically; so after a crash every recorded chunk is valid, and chunks
 * written since the last record are simply fetched again.
 */
import { rename, rm } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { CID } from 'multiformats/cid'
import { chunkLength, chunkOffset, isZeroChunk } from '../chunking/manifest.js'
import type { Manifest } from '../chunking/manifest.js'
import { verifyChunk } from '../chunking/verify.js'
import type { HashPool } from '../chunking/verify.js'
import { ChunkHashMismatchError, Imgp2pError, fsError } from '../errors.js'
import { Bitfield } from '../util/bitfield.js'
import { readExactly, syncDir, writeAll, writeFileAtomic, byteLength, type Bytes } from './files.js'
import type { ChunkFile, OpenFile } from './files.js'
import { encodeHave } from './have-record.js'
import { OutputFile } from './output-file.js'
import type { PartialImage } from './types.js'

export interface PartialPaths {
  part: string
  have: string
  image: string
}

export interface PartialOptions {
  open: OpenFile
  hashPool?: HashPool
  /** Persist the `.have` record at least this often while chunks arrive. Default 1000 ms. */
  flushIntervalMs?: number
  /** ...and after this many new chunks. Default 64. */
  flushChunks?: number
  /** Resolves once the image's manifest is on disk: no progress record or finished image may exist without it. */
  manifestStored?: () => Promise<void>
  /** Called once when the object is finished or closed (the store forgets it). */
  onDone: () => void
}

export class FsPartialImage implements PartialImage {
  readonly cid: CID
  readonly manifest: Manifest
  readonly have: Bitfield
  private state: 'open' | 'finished' | 'closed' = 'open'
  /** Outputs being filled; several pulls of one image may each want their own file. */
  private readonly outputs: OutputFile[] = []
  private readonly attaching = new Map<string, Promise<void>>()
  private dirty = 0
  private timer?: NodeJS.Timeout
  private flushing?: Promise<void>
  private backgroundError?: Error
  private readonly writing = new Set<number>()
  private readonly inflight = new Set<Promise<unknown>>()
  private readonly fh: ChunkFile
  private readonly paths: PartialPaths
  private readonly options: PartialOptions
  private readonly alreadyComplete: boolean

  /**
   * `alreadyComplete`: `fh` is the complete image in images/ (read-only): every
   * chunk is held, and the object only serves reads and attachOutput.
   */
  constructor (cid: CID, manifest: Manifest, have: Bitfield, fh: ChunkFile, paths: PartialPaths, options: PartialOptions, alreadyComplete: boolean) {
    this.cid = cid
    this.manifest = manifest
    this.have = have
    this.fh = fh
    this.paths = paths
    this.options = options
    this.alreadyComplete = alreadyComplete
  }

  get complete (): boolean { return this.have.complete }

  async writeChunk (index: number, bytes: Bytes): Promise<boolean> {
    this.assertOpen()
    if (this.backgroundError != null) { const e = this.backgroundError; this.backgroundError = undefined; throw e }
    const len = chunkLength(this.manifest, index) // throws RangeError outside the image
    if (this.have.has(index)) return false
    const got = byteLength(bytes)
    if (got !== len) throw new ChunkHashMismatchError(`chunk ${index} of ${this.cid} is ${got} bytes, expected ${len}`)
    if (!await verifyChunk(this.manifest.chunks[index], bytes, this.options.hashPool)) {
      throw new ChunkHashMismatchError(`chunk ${index} of ${this.cid} does not match its CID ${this.manifest.chunks[index]}`)
    }
    this.assertOpen()
    if (this.have.has(index) || this.writing.has(index)) return false // a concurrent write of the same chunk won
    this.writing.add(index)
    const p = this.store(index, bytes)
    this.inflight.add(p)
    try {
      await p
    } finally {
      this.inflight.delete(p)
      this.writing.delete(index)
    }
    this.dirty++
    this.scheduleFlush()
    return true
  }

  private async store (index: number, bytes: Bytes): Promise<void> {
    const offset = chunkOffset(this.manifest, index)
    const written = new Set(this.outputs)
    await Promise.all([
      writeAll(this.fh, bytes, offset).catch(err => { throw fsError(err, `writing chunk ${index} of ${this.cid} to ${this.paths.part}`) }),
      ...[...written].map(async o => { await o.write(bytes, offset) })
    ])
    // An output attached while we wrote copied only chunks held then, so not this one.
    for (;;) {
      const missed = this.outputs.filter(o => !written.has(o))
      if (missed.length === 0) break
      for (const o of missed) written.add(o)
      await Promise.all(missed.map(async o => { await o.write(bytes, offset) }))
    }
    this.have.set(index) // no await between the check above and this
  }

  /** Add an output (several are allowed; the same path twice is one output). */
  async attachOutput (path: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.assertOpen()
    const key = resolve(path)
    if (this.outputs.some(o => o.path === key)) return
    let p = this.attaching.get(key)
    if (p == null) {
      p = this.addOutput(key, options.signal).finally(() => this.attaching.delete(key))
      this.attaching.set(key, p)
    }
    await p
  }

  private async addOutput (path: string, signal?: AbortSignal): Promise<void> {
    const out = await OutputFile.create(path, this.manifest.size, this.options.open, { chunkSize: this.manifest.chunkSize })
    this.outputs.push(out)
    try {
      const buf = new Uint8Array(this.manifest.chunkSize)
      for (const i of this.have.clone().indexes()) {
        signal?.throwIfAborted()
        if (isZeroChunk(this.manifest, i)) continue // holes stay holes
        const bytes = await readExactly(this.fh, chunkLength(this.manifest, i), chunkOffset(this.manifest, i), buf)
        await out.write(bytes, chunkOffset(this.manifest, i))
      }
    } catch (err) {
      this.outputs.splice(this.outputs.indexOf(out), 1)
      await out.discard()
      throw err
    }
  }

  async readChunk (index: number): Promise<Uint8Array | undefined> {
    if (this.state !== 'open' || !this.have.has(index)) return undefined
    const len = chunkLength(this.manifest, index)
    if (isZeroChunk(this.manifest, index)) return new Uint8Array(len)
    return await readExactly(this.fh, len, chunkOffset(this.manifest, index))
  }

  async flush (): Promise<void> {
    if (this.alreadyComplete) return
    while (this.dirty > 0 || this.flushing != null) {
      if (this.flushing == null) this.flushing = this.persist().finally(() => { this.flushing = undefined })
      await this.flushing
    }
  }

  /** fdatasync the data, then record what it holds. */
  private async persist (): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    const snapshot = this.have.clone()
    const counted = this.dirty
    this.dirty = 0
    try {
      await this.options.manifestStored?.()
      await this.fh.datasync()
      await writeFileAtomic(this.paths.have, encodeHave(this.cid, snapshot), `recording progress of ${this.cid}`, this.options.open)
    } catch (err) {
      this.dirty += counted
      throw fsError(err, `recording progress of ${this.cid}`)
    }
  }

  private scheduleFlush (): void {
    const background = (): void => { this.flush().catch(err => { this.backgroundError = err as Error }) }
    if (this.dirty >= (this.options.flushChunks ?? 64) && this.flushing == null) {
      background()
    } else if (this.timer == null) {
      this.timer = setTimeout(background, this.options.flushIntervalMs ?? 1000)
      this.timer.unref() // a pending record must not keep the process alive; close() flushes
    }
  }

  async finish (): Promise<string> {
    this.assertOpen()
    if (!this.have.complete) throw new Imgp2pError(`cannot finish ${this.cid}: ${this.have.count} of ${this.have.size} chunks held`)
    await Promise.allSettled([...this.inflight, ...this.attaching.values()])
    // The output first: if it fails, the pull is still intact here and can be retried.
    for (const o of this.outputs.splice(0)) await o.commit()
    clearTimeout(this.timer)
    if (!this.alreadyComplete) {
      await this.flushing?.catch(() => {})
      try {
        await this.options.manifestStored?.()
        await this.fh.sync()
        await this.fh.close()
        await rename(this.paths.part, this.paths.image)
        await syncDir(dirname(this.paths.image))
        await rm(this.paths.have, { force: true })
      } catch (err) {
        throw fsError(err, `moving ${this.cid} into the cache`)
      }
    } else {
      await this.fh.close()
    }
    this.done('finished')
    return this.paths.image
  }

  async close (): Promise<void> {
    if (this.state !== 'open') return
    await Promise.allSettled(this.inflight)
    try {
      await this.flush()
    } finally {
      this.state = 'closed'
      clearTimeout(this.timer)
      await this.fh.close().catch(() => {})
      for (const o of this.outputs.splice(0)) await o.discard()
      this.done('closed')
    }
  }

  private done (state: 'finished' | 'closed'): void {
    this.state = state
    this.options.onDone()
  }

  private assertOpen (): void {
    if (this.state !== 'open') throw new Imgp2pError(`pull of ${this.cid} is ${this.state}`)
  }
}

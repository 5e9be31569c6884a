/**
 * The one place received chunk bytes are checked against their CID.
 *
 * Hashing 1 MiB costs ~0.5 ms, about 20% of download throughput when done on
 * the thread that also runs noise and yamux (STACK-FACTS). HashPool moves it to
 * worker threads; the caller keeps its bytes (nothing is transferred), and the
 * pool hashes synchronously when it has no workers.
 */
import { createHash } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import type { CID } from 'multiformats/cid'
import { isChunkCid } from './cid.js'

export interface HashPoolOptions {
  /** Worker threads; 0 hashes on the calling thread. Default 1. */
  size?: number
  /**
   * How bytes reach a worker. 'shared': copied into a reused SharedArrayBuffer
   * (one memcpy, nothing allocated per chunk). 'clone': postMessage a copy
   * (structured clone: serialise + deserialise). 'shared' measured faster; see verify.ts notes.
   */
  mode?: 'shared' | 'clone'
  /** Chunks smaller than this are hashed inline: the round trip costs more than it saves. Default 64 KiB. */
  minOffloadBytes?: number
}

interface Job {
  id: number
  bytes: ChunkBytes
  sab?: SharedArrayBuffer
  resolve: (digest: Uint8Array) => void
}

interface Slot {
  worker: Worker
  jobs: Map<number, Job>
  online: boolean
}

// CommonJS source run with { eval: true }: no worker file to locate, whether
// we run from src/*.ts under vitest or from dist/*.js.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
parentPort.on('message', (m) => {
  const view = m.sab != null ? new Uint8Array(m.sab, 0, m.length) : m.bytes
  // Copy out of the Buffer so the clone is 32 bytes, not a pooled slab.
  parentPort.postMessage({ id: m.id, digest: new Uint8Array(createHash('sha256').update(view).digest()) })
})
`

/** One buffer, or the parts a chunk arrived in (hashed in order, never gathered). */
export type ChunkBytes = Uint8Array | readonly Uint8Array[]

function totalLength (b: ChunkBytes): number {
  if (b instanceof Uint8Array) return b.length
  let n = 0
  for (const p of b) n += p.length
  return n
}

export function sha256Sync (bytes: ChunkBytes): Uint8Array {
  const h = createHash('sha256')
  if (bytes instanceof Uint8Array) h.update(bytes)
  else for (const p of bytes) h.update(p)
  const d = h.digest()
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
}

export class HashPool {
  private readonly slots: Slot[] = []
  private readonly mode: 'shared' | 'clone'
  private readonly minOffload: number
  private readonly freeSabs: SharedArrayBuffer[] = []
  private nextId = 0
  private closed = false

  constructor (options: HashPoolOptions = {}) {
    this.mode = options.mode ?? 'shared'
    this.minOffload = options.minOffloadBytes ?? 64 * 1024
    const size = options.size ?? 1
    for (let i = 0; i < size; i++) this.spawn()
  }

  /** Live worker threads (0 means every hash runs inline). */
  get size (): number { return this.slots.length }

  /** sha2-256 digest of `bytes`. `bytes` must not change until the promise settles. */
  async digest (bytes: ChunkBytes): Promise<Uint8Array> {
    const length = totalLength(bytes)
    if (this.slots.length === 0 || length < this.minOffload) return sha256Sync(bytes)
    let slot = this.slots[0]
    for (const s of this.slots) if (s.jobs.size < slot.jobs.size) slot = s
    return await new Promise<Uint8Array>(resolve => {
      const job: Job = { id: this.nextId++, bytes, resolve }
      if (slot.jobs.size === 0) slot.worker.ref() // keep the process alive only while work is pending
      slot.jobs.set(job.id, job)
      if (this.mode === 'shared') {
        job.sab = this.takeSab(length)
        const view = new Uint8Array(job.sab, 0, length)
        if (bytes instanceof Uint8Array) view.set(bytes)
        else { let off = 0; for (const p of bytes) { view.set(p, off); off += p.length } }
        slot.worker.postMessage({ id: job.id, sab: job.sab, length })
      } else if (bytes instanceof Uint8Array) {
        // Structured clone copies a view's whole ArrayBuffer; send just these bytes.
        const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
        slot.worker.postMessage({ id: job.id, bytes: whole ? bytes : bytes.slice() })
      } else {
        const joined = new Uint8Array(length)
        let off = 0
        for (const p of bytes) { joined.set(p, off); off += p.length }
        slot.worker.postMessage({ id: job.id, bytes: joined })
      }
    })
  }

  async close (): Promise<void> {
    this.closed = true
    const slots = this.slots.splice(0)
    await Promise.all(slots.map(async s => {
      this.rescue(s) // finish its jobs inline rather than leave callers hanging
      await s.worker.terminate()
    }))
    this.freeSabs.length = 0
  }

  private spawn (): void {
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'imgp2p-hash' })
    const slot: Slot = { worker, jobs: new Map(), online: false }
    worker.unref()
    worker.on('online', () => { slot.online = true })
    worker.on('message', (m: { id: number, digest: Uint8Array }) => {
      const job = slot.jobs.get(m.id)
      if (job == null) return
      slot.jobs.delete(m.id)
      if (slot.jobs.size === 0) worker.unref()
      this.release(job)
      job.resolve(m.digest)
    })
    const lost = (): void => {
      const i = this.slots.indexOf(slot)
      if (i < 0) return
      this.slots.splice(i, 1)
      this.rescue(slot)
      // Replace a worker that ran and died; one that never started won't start now either.
      if (slot.online && !this.closed) this.spawn()
    }
    worker.on('error', lost)
    worker.on('exit', lost)
    this.slots.push(slot)
  }

  private rescue (slot: Slot): void {
    for (const job of slot.jobs.values()) {
      this.release(job)
      job.resolve(sha256Sync(job.bytes))
    }
    slot.jobs.clear()
  }

  private takeSab (length: number): SharedArrayBuffer {
    const i = this.freeSabs.findIndex(s => s.byteLength >= length)
    if (i >= 0) return this.freeSabs.splice(i, 1)[0]
    return new SharedArrayBuffer(length)
  }

  private release (job: Job): void {
    // Keep a few for reuse; beyond that let them go so a burst doesn't pin memory.
    if (job.sab != null && !this.closed && this.freeSabs.length < 2 * this.slots.length + 8) this.freeSabs.push(job.sab)
    job.sab = undefined
  }
}

let defaultPool: HashPool | undefined

/**
 * The pool verifyChunk uses unless given one. No workers by default: a chunk
 * arrives in slices that are hashed in place, while a worker needs them
 * copied to it first. Measured with bench:pull (512 MiB, 1 MiB chunks, two
 * daemons on this 2-core machine): 7-13 core-s/GB for both ends with inline
 * hashing, 15-16 with one worker. A host with idle cores can pass
 * `imgp2p daemon --hash-workers N`.
 */
export function defaultHashPool (): HashPool {
  defaultPool ??= new HashPool({ size: 0 })
  return defaultPool
}

/** Replace the default pool (e.g. with a configured size); the caller owns closing the old one. */
export function setDefaultHashPool (pool: HashPool): void {
  defaultPool = pool
}

/**
 * True when `bytes` are the chunk `cid` names. Every chunk received from a
 * peer goes through here before it is written, announced or served.
 * `bytes` must not change until the promise settles.
 */
export async function verifyChunk (cid: CID, bytes: ChunkBytes, pool: HashPool = defaultHashPool()): Promise<boolean> {
  if (!isChunkCid(cid)) return false
  const digest = await pool.digest(bytes)
  const want = cid.multihash.digest
  if (digest.length !== want.length) return false
  for (let i = 0; i < want.length; i++) if (digest[i] !== want[i]) return false
  return true
}

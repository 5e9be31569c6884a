/**
 * Open read handles of complete images, kept between chunk reads: a seeder
 * serves thousands of chunks per image, and an open/stat/close per chunk
 * showed up in profiles. Complete images never change in place (they only
 * appear by rename and go by remove), so a handle stays valid until evicted.
 */
import { open, type FileHandle } from 'node:fs/promises'

const MAX_OPEN = 32
const IDLE_CLOSE_MS = 30_000

interface Entry {
  fh: Promise<FileHandle>
  lastUsed: number
  users: number
}

export class ReadHandles {
  private readonly entries = new Map<string, Entry>()
  private sweeper?: NodeJS.Timeout

  /** Run `fn` with a read handle on `path`; undefined when the file does not exist. */
  async use<T> (path: string, fn: (fh: FileHandle) => Promise<T>): Promise<T | undefined> {
    let e = this.entries.get(path)
    if (e == null) {
      e = { fh: open(path, 'r'), lastUsed: Date.now(), users: 0 }
      this.entries.set(path, e)
      e.fh.catch(() => { if (this.entries.get(path) === e) this.entries.delete(path) })
      this.evict()
      this.startSweeper()
    }
    let fh: FileHandle
    try {
      fh = await e.fh
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
    e.users++
    e.lastUsed = Date.now()
    try {
      return await fn(fh)
    } finally {
      e.users--
    }
  }

  /** Close the handle of `path` (before removing the file). */
  async drop (path: string): Promise<void> {
    const e = this.entries.get(path)
    if (e == null) return
    this.entries.delete(path)
    await (await e.fh.catch(() => undefined))?.close().catch(() => {})
  }

  async closeAll (): Promise<void> {
    clearInterval(this.sweeper)
    this.sweeper = undefined
    await Promise.all([...this.entries.keys()].map(async p => { await this.drop(p) }))
  }

  private evict (): void {
    if (this.entries.size <= MAX_OPEN) return
    const idle = [...this.entries].filter(([, e]) => e.users === 0).sort((a, b) => a[1].lastUsed - b[1].lastUsed)
    for (const [p] of idle.slice(0, this.entries.size - MAX_OPEN)) void this.drop(p)
  }

  private startSweeper (): void {
    if (this.sweeper != null) return
    this.sweeper = setInterval(() => {
      const now = Date.now()
      for (const [p, e] of this.entries) if (e.users === 0 && now - e.lastUsed > IDLE_CLOSE_MS) void this.drop(p)
      if (this.entries.size === 0) { clearInterval(this.sweeper); this.sweeper = undefined }
    }, IDLE_CLOSE_MS)
    this.sweeper.unref()
  }
}

/**
 * Which files `add` imported, keyed by the file's identity on disk, so that
 * adding an unchanged file again answers from the record instead of reading,
 * hashing and copying the whole image once more. A cloud's clone step adds
 * the image it deploys once per VM (contrib/opennebula): a 1 GiB image took
 * 3.99 s to add on the benchmark machine, and 0.08 s again (BENCHMARKS.md).
 *
 * A file counts as unchanged while its device, inode, size, mtime and ctime
 * (nanoseconds) all match. ctime cannot be set from user space: writing to
 * the file, even with its mtime restored, changes it.
 *
 * It also keeps which images were added on this host at all, so a restarted
 * daemon still serves them as their origin and never evicts them.
 */
import { readFile } from 'node:fs/promises'
import type { BigIntStats } from 'node:fs'
import { writeFileAtomic } from './files.js'

export interface FileIdentity {
  dev: bigint
  ino: bigint
  size: bigint
  mtimeNs: bigint
  ctimeNs: bigint
}

interface Entry {
  path: string
  dev: string
  ino: string
  size: string
  mtimeNs: string
  ctimeNs: string
  chunkSize: number
  cid: string
}

/** Bounds the file; an operator's image datastore holds far fewer images. */
const MAX_ENTRIES = 4096

export function fileIdentity (st: BigIntStats): FileIdentity {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs }
}

export function sameIdentity (a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs
}

export class ImportIndex {
  private readonly path: string
  private readonly entries: Map<string, Entry>
  private readonly added: Set<string>
  private writing: Promise<void> = Promise.resolve()

  private constructor (path: string, entries: Entry[], added: string[]) {
    this.path = path
    this.entries = new Map(entries.map(e => [keyOf(e.dev, e.ino, e.chunkSize), e]))
    this.added = new Set(added)
  }

  /** A missing or unreadable record is an empty one: it only ever saves work. */
  static async open (path: string): Promise<ImportIndex> {
    let entries: Entry[] = []
    let added: string[] = []
    try {
      const parsed = JSON.parse(await readFile(path, 'utf8')) as { files?: unknown, added?: unknown }
      if (Array.isArray(parsed.files)) entries = parsed.files.filter(isEntry)
      if (Array.isArray(parsed.added)) added = parsed.added.filter((x): x is string => typeof x === 'string')
    } catch {}
    return new ImportIndex(path, entries, added)
  }

  /** Images imported on this host, across restarts. */
  addedImages (): string[] {
    return [...this.added]
  }

  /** The CID recorded for this file at this chunk size, if the file is unchanged since. */
  lookup (id: FileIdentity, chunkSize: number): string | undefined {
    const e = this.entries.get(keyOf(String(id.dev), String(id.ino), chunkSize))
    if (e == null) return undefined
    const recorded: FileIdentity = { dev: BigInt(e.dev), ino: BigInt(e.ino), size: BigInt(e.size), mtimeNs: BigInt(e.mtimeNs), ctimeNs: BigInt(e.ctimeNs) }
    return sameIdentity(recorded, id) ? e.cid : undefined
  }

  /**
   * `cid` was added here from `path`. `id` is the file's identity, or
   * undefined when the file changed while it was read: then a later add of
   * it reads it again.
   */
  async record (path: string, id: FileIdentity | undefined, chunkSize: number, cid: string): Promise<void> {
    this.added.add(cid)
    if (id != null) {
      const key = keyOf(String(id.dev), String(id.ino), chunkSize)
      this.entries.delete(key) // re-inserted last: the oldest go first when full
      this.entries.set(key, { path, dev: String(id.dev), ino: String(id.ino), size: String(id.size), mtimeNs: String(id.mtimeNs), ctimeNs: String(id.ctimeNs), chunkSize, cid })
      for (const k of this.entries.keys()) {
        if (this.entries.size <= MAX_ENTRIES) break
        this.entries.delete(k)
      }
    }
    await this.save()
  }

  async forget (cid: string): Promise<void> {
    let changed = this.added.delete(cid)
    for (const [k, e] of this.entries) if (e.cid === cid) { this.entries.delete(k); changed = true }
    if (changed) await this.save()
  }

  private async save (): Promise<void> {
    const bytes = new TextEncoder().encode(JSON.stringify({ files: [...this.entries.values()], added: [...this.added] }))
    // One write at a time, each with the entries as they are when it starts.
    const next = this.writing.then(async () => { await writeFileAtomic(this.path, bytes, 'recording an import') })
    this.writing = next.catch(() => {})
    await next
  }
}

function keyOf (dev: string, ino: string, chunkSize: number): string {
  return `${dev}:${ino}:${chunkSize}`
}

function isEntry (v: unknown): v is Entry {
  if (typeof v !== 'object' || v == null) return false
  const e = v as Record<string, unknown>
  const digits = (x: unknown): boolean => typeof x === 'string' && /^\d+$/.test(x)
  return typeof e.path === 'string' && typeof e.cid === 'string' && typeof e.chunkSize === 'number' &&
    digits(e.dev) && digits(e.ino) && digits(e.size) && digits(e.mtimeNs) && digits(e.ctimeNs)
}

/**
 * A set of chunk indexes grouped by an integer level (availability), with
 * O(1) insert, delete and level change: each level is an unordered array and
 * every chunk remembers its slot. Rarest-first scans walk the levels upward.
 */
export class ChunkBuckets {
  private readonly lists: number[][] = []
  private readonly pos: Int32Array
  private readonly lvl: Int32Array
  private count = 0

  constructor (chunkCount: number) {
    this.pos = new Int32Array(chunkCount).fill(-1)
    this.lvl = new Int32Array(chunkCount)
  }

  get size (): number { return this.count }
  get levels (): number { return this.lists.length }

  has (chunk: number): boolean { return this.pos[chunk] >= 0 }
  levelOf (chunk: number): number { return this.lvl[chunk] }

  /** The chunks at one level, in no particular order. Do not mutate. */
  bucket (level: number): readonly number[] { return this.lists[level] ?? EMPTY }

  /** Insert the chunk at `level`, or move it there. */
  put (chunk: number, level: number): void {
    if (this.pos[chunk] >= 0) {
      if (this.lvl[chunk] === level) return
      this.delete(chunk)
    }
    while (this.lists.length <= level) this.lists.push([])
    const list = this.lists[level]
    this.pos[chunk] = list.length
    this.lvl[chunk] = level
    list.push(chunk)
    this.count++
  }

  delete (chunk: number): boolean {
    const p = this.pos[chunk]
    if (p < 0) return false
    const list = this.lists[this.lvl[chunk]]
    const last = list.pop() as number
    if (last !== chunk) {
      list[p] = last
      this.pos[last] = p
    }
    this.pos[chunk] = -1
    this.count--
    return true
  }
}

const EMPTY: readonly number[] = []

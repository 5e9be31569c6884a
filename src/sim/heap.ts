/**
 * Two allocation-free priority queues for the event loop.
 *
 * - IndexedHeap: one key per small integer id (a flow's completion time),
 *   with update and remove in O(log n). Ties go to the lower id.
 * - EventQueue: timed messages (kind + two integer arguments) kept in pooled
 *   typed arrays; ties go to the earlier scheduled, so runs are reproducible.
 */
export class IndexedHeap {
  private keys: Float64Array
  private heap: Int32Array
  private pos: Int32Array
  private n = 0

  constructor (capacity: number) {
    this.keys = new Float64Array(capacity)
    this.heap = new Int32Array(capacity)
    this.pos = new Int32Array(capacity).fill(-1)
  }

  get size (): number { return this.n }
  has (id: number): boolean { return this.pos[id] >= 0 }
  /** The smallest id's key, Infinity when empty. */
  peekKey (): number { return this.n === 0 ? Infinity : this.keys[this.heap[0]] }
  peekId (): number { return this.n === 0 ? -1 : this.heap[0] }
  key (id: number): number { return this.keys[id] }

  /** Insert or move `id` to `key`. */
  set (id: number, key: number): void {
    const p = this.pos[id]
    if (p < 0) {
      this.keys[id] = key
      this.heap[this.n] = id
      this.pos[id] = this.n
      this.up(this.n++)
      return
    }
    const old = this.keys[id]
    this.keys[id] = key
    if (key < old) this.up(p)
    else this.down(p)
  }

  remove (id: number): void {
    const p = this.pos[id]
    if (p < 0) return
    this.pos[id] = -1
    const last = this.heap[--this.n]
    if (p === this.n) return
    this.heap[p] = last
    this.pos[last] = p
    this.up(p)
    this.down(this.pos[last])
  }

  private less (a: number, b: number): boolean {
    const ka = this.keys[a]
    const kb = this.keys[b]
    return ka < kb || (ka === kb && a < b)
  }

  private up (i: number): void {
    const h = this.heap
    const id = h[i]
    while (i > 0) {
      const parent = (i - 1) >> 1
      const pid = h[parent]
      if (!this.less(id, pid)) break
      h[i] = pid
      this.pos[pid] = i
      i = parent
    }
    h[i] = id
    this.pos[id] = i
  }

  private down (i: number): void {
    const h = this.heap
    const n = this.n
    const id = h[i]
    for (;;) {
      let c = 2 * i + 1
      if (c >= n) break
      if (c + 1 < n && this.less(h[c + 1], h[c])) c++
      if (!this.less(h[c], id)) break
      h[i] = h[c]
      this.pos[h[i]] = i
      i = c
    }
    h[i] = id
    this.pos[id] = i
  }
}

export class EventQueue {
  private time = new Float64Array(1024)
  private seq = new Float64Array(1024)
  private kindA = new Int32Array(1024)
  private argA = new Int32Array(1024)
  private argB = new Int32Array(1024)
  private heap = new Int32Array(1024)
  private free: number[] = []
  private used = 0
  private n = 0
  private counter = 0

  get size (): number { return this.n }
  peekTime (): number { return this.n === 0 ? Infinity : this.time[this.heap[0]] }

  push (time: number, kind: number, a: number, b: number): void {
    let slot = this.free.pop()
    if (slot === undefined) {
      if (this.used === this.time.length) this.grow()
      slot = this.used++
    }
    this.time[slot] = time
    this.seq[slot] = this.counter++
    this.kindA[slot] = kind
    this.argA[slot] = a
    this.argB[slot] = b
    if (this.n === this.heap.length) {
      const h = new Int32Array(this.heap.length * 2)
      h.set(this.heap)
      this.heap = h
    }
    this.heap[this.n] = slot
    this.up(this.n++)
  }

  /** Removes the earliest event; read it with kind/a/b right after (valid until the next push). */
  pop (): number {
    const slot = this.heap[0]
    const last = this.heap[--this.n]
    if (this.n > 0) {
      this.heap[0] = last
      this.down(0)
    }
    this.free.push(slot)
    return slot
  }

  kind (slot: number): number { return this.kindA[slot] }
  a (slot: number): number { return this.argA[slot] }
  b (slot: number): number { return this.argB[slot] }
  at (slot: number): number { return this.time[slot] }

  private grow (): void {
    const len = this.time.length * 2
    const t = new Float64Array(len); t.set(this.time); this.time = t
    const s = new Float64Array(len); s.set(this.seq); this.seq = s
    const k = new Int32Array(len); k.set(this.kindA); this.kindA = k
    const a = new Int32Array(len); a.set(this.argA); this.argA = a
    const b = new Int32Array(len); b.set(this.argB); this.argB = b
  }

  private less (x: number, y: number): boolean {
    const tx = this.time[x]
    const ty = this.time[y]
    return tx < ty || (tx === ty && this.seq[x] < this.seq[y])
  }

  private up (i: number): void {
    const h = this.heap
    const s = h[i]
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(s, h[p])) break
      h[i] = h[p]
      i = p
    }
    h[i] = s
  }

  private down (i: number): void {
    const h = this.heap
    const n = this.n
    const s = h[i]
    for (;;) {
      let c = 2 * i + 1
      if (c >= n) break
      if (c + 1 < n && this.less(h[c + 1], h[c])) c++
      if (!this.less(h[c], s)) break
      h[i] = h[c]
      i = c
    }
    h[i] = s
  }
}

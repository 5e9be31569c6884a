/** A binary min-heap of (time, value) pairs: timers as data, for code that has no timers. */
export class TimeHeap {
  private readonly times: number[] = []
  private readonly values: number[] = []

  get size (): number { return this.times.length }

  /** Time of the earliest entry, Infinity when empty. */
  peekTime (): number { return this.times.length > 0 ? this.times[0] : Infinity }

  push (time: number, value: number): void {
    const t = this.times
    const v = this.values
    let i = t.length
    t.push(time)
    v.push(value)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (t[parent] <= time) break
      t[i] = t[parent]
      v[i] = v[parent]
      i = parent
    }
    t[i] = time
    v[i] = value
  }

  /** Remove and return the earliest value (undefined when empty). */
  pop (): number | undefined {
    const t = this.times
    const v = this.values
    if (t.length === 0) return undefined
    const top = v[0]
    const lastT = t.pop() as number
    const lastV = v.pop() as number
    const n = t.length
    if (n > 0) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && t[r] < t[l] ? r : l
        if (t[c] >= lastT) break
        t[i] = t[c]
        v[i] = v[c]
        i = c
      }
      t[i] = lastT
      v[i] = lastV
    }
    return top
  }
}

/**
 * A fixed-size set of chunk indexes, one bit each, most significant bit first
 * in every byte (the order BitTorrent's BITFIELD message uses), so the bytes
 * can go on the wire and on disk unchanged.
 */
export class Bitfield {
  readonly size: number
  readonly bytes: Uint8Array
  private setCount: number

  constructor (size: number, bytes?: Uint8Array) {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`bitfield size must be a non-negative integer, got ${size}`)
    this.size = size
    const len = Math.ceil(size / 8)
    if (bytes != null) {
      if (bytes.length !== len) throw new RangeError(`bitfield of ${size} bits needs ${len} bytes, got ${bytes.length}`)
      this.bytes = new Uint8Array(bytes)
      // Bits past `size` in the last byte carry no meaning; clear them so counts stay honest.
      const spare = len * 8 - size
      if (spare > 0) this.bytes[len - 1] &= (0xff << spare) & 0xff
    } else {
      this.bytes = new Uint8Array(len)
    }
    this.setCount = 0
    for (const b of this.bytes) this.setCount += popcount8(b)
  }

  static full (size: number): Bitfield {
    const bf = new Bitfield(size)
    for (let i = 0; i < size; i++) bf.set(i)
    return bf
  }

  has (i: number): boolean {
    if (i < 0 || i >= this.size) return false
    return (this.bytes[i >> 3] & (0x80 >> (i & 7))) !== 0
  }

  /** Returns true when the bit was not set before. */
  set (i: number): boolean {
    this.check(i)
    const mask = 0x80 >> (i & 7)
    if ((this.bytes[i >> 3] & mask) !== 0) return false
    this.bytes[i >> 3] |= mask
    this.setCount++
    return true
  }

  /** Returns true when the bit was set before. */
  clear (i: number): boolean {
    this.check(i)
    const mask = 0x80 >> (i & 7)
    if ((this.bytes[i >> 3] & mask) === 0) return false
    this.bytes[i >> 3] &= ~mask & 0xff
    this.setCount--
    return true
  }

  get count (): number { return this.setCount }
  get complete (): boolean { return this.setCount === this.size }

  clone (): Bitfield { return new Bitfield(this.size, this.bytes) }

  * indexes (): IterableIterator<number> {
    for (let i = 0; i < this.size; i++) if (this.has(i)) yield i
  }

  private check (i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`chunk index ${i} outside 0..${this.size - 1}`)
  }
}

function popcount8 (b: number): number {
  let n = 0
  while (b !== 0) { n += b & 1; b >>= 1 }
  return n
}

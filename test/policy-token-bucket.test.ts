/** The upload cap's arithmetic: burst, rate, and a debt shared in order. */
import { describe, expect, it } from 'vitest'
import { TokenBucket } from '../src/policy/token-bucket.js'

describe('TokenBucket', () => {
  it('lets a burst go at once, then paces to the rate', () => {
    const b = new TokenBucket(1000, 4000, 0) // 1 MB/s, 4 kB burst
    expect(b.reserve(4000, 0)).toBe(0)
    expect(b.reserve(1000, 0)).toBe(1)
    expect(b.reserve(1000, 0)).toBe(2) // queued behind the first wait
    expect(b.reserve(1000, 3)).toBe(0) // the debt is paid by t = 2 ms
  })

  it('refills up to the burst only, and lets a send larger than the burst go after its debt', () => {
    const b = new TokenBucket(1000, 4000, 0)
    expect(b.reserve(4000, 1_000_000)).toBe(0) // a long quiet spell adds no more than the burst
    expect(b.reserve(10_000, 1_000_000)).toBe(10)
    expect(b.reserve(1, 1_000_010)).toBeCloseTo(0.001)
  })

  it('refuses a rate or burst of 0', () => {
    expect(() => new TokenBucket(0, 1, 0)).toThrow(/rate and a burst/)
    expect(() => new TokenBucket(1, 0, 0)).toThrow(/rate and a burst/)
  })
})

describe('TokenBucket.available', () => {
  it('says what may go now, refilled to the burst, and the debt while one is unpaid', () => {
    const b = new TokenBucket(1000, 4000, 0)
    expect(b.available(0)).toBe(4000)
    b.reserve(6000, 0)
    expect(b.available(0)).toBe(-2000)
    expect(b.available(1)).toBe(-1000)
    expect(b.available(3)).toBe(1000)
    expect(b.available(1_000_000)).toBe(4000)
  })
})

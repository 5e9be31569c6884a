import { describe, expect, it } from 'vitest'
import { SendPacer } from '../src/policy/send-pacer.js'

describe('SendPacer', () => {
  it('spaces sends by their time at the rate, across callers', () => {
    const p = new SendPacer()
    // 1,000 bytes at 8,000 bit/s take 1 s each.
    expect(p.reserve(0, 1000, 8000)).toBe(0)
    expect(p.reserve(0, 1000, 8000)).toBe(1000)
    expect(p.reserve(500, 1000, 8000)).toBe(1500)
  })

  it('does not save up idle time', () => {
    const p = new SendPacer()
    expect(p.reserve(0, 1000, 8000)).toBe(0)
    expect(p.reserve(10_000, 1000, 8000)).toBe(0)
    expect(p.reserve(10_000, 1000, 8000)).toBe(1000)
  })

  it('does not hold back without a limit, and forgets bookings made under one', () => {
    const p = new SendPacer()
    expect(p.reserve(0, 1000, 8000)).toBe(0)
    expect(p.reserve(0, 1e9, Infinity)).toBe(0)
    expect(p.reserve(0, 1000, 8000)).toBe(0)
    expect(p.reserve(0, 1000, 0)).toBe(0)
  })
})

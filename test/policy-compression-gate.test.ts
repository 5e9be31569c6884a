import { describe, expect, it } from 'vitest'
import { CompressionGate, type CpuSample } from '../src/policy/compression-gate.js'

/**
 * Drive a gate with a thread that, each second, runs `run` and waits `wait`
 * seconds (fractions of that second); returns the gate's state after each second.
 */
function drive (gate: CompressionGate, seconds: Array<[run: number, wait: number]>, start: CpuSample = { atMs: 0, runMs: 0, waitMs: 0 }): boolean[] {
  let s = start
  gate.sample(s)
  return seconds.map(([run, wait]) => {
    s = { atMs: s.atMs + 1000, runMs: s.runMs + run * 1000, waitMs: s.waitMs + wait * 1000 }
    gate.sample(s)
    return gate.open
  })
}

const repeat = <T>(x: T, n: number): T[] => Array.from({ length: n }, () => x)

describe('compression gate', () => {
  it('stays open where the links are the limit (8 hosts on two cores: share ~0.3, demand ~0.5)', () => {
    const gate = new CompressionGate()
    expect(drive(gate, repeat([0.14, 0.35], 30)).every(Boolean)).toBe(true)
    expect(gate.reading?.share).toBeCloseTo(0.29, 2)
    expect(gate.reading?.demand).toBeCloseTo(0.49, 2)
  })

  it('closes once a whole window shows a thread starved of a core (24 hosts: share ~0.05)', () => {
    const gate = new CompressionGate({ windowMs: 4000 })
    const states = drive(gate, repeat([0.04, 0.76], 10))
    // Nothing is decided before a window has passed.
    expect(states.slice(0, 3)).toEqual([true, true, true])
    expect(states[3]).toBe(false)
    expect(states.slice(3).every(s => !s)).toBe(true)
  })

  it('one busy second inside a window of room does not close it', () => {
    const gate = new CompressionGate({ windowMs: 4000 })
    const states = drive(gate, [...repeat<[number, number]>([0.14, 0.3], 5), [0.05, 0.95], ...repeat<[number, number]>([0.14, 0.3], 5)])
    expect(states.every(Boolean)).toBe(true)
  })

  it('reopens only above the higher share (hysteresis), whatever the thread\'s demand', () => {
    const gate = new CompressionGate({ windowMs: 2000, closeBelowShare: 0.12, openAboveShare: 0.2 })
    drive(gate, repeat([0.04, 0.76], 4))
    expect(gate.open).toBe(false)
    // Between the two thresholds: stays closed.
    const mid = drive(gate, repeat([0.1, 0.6], 6), { atMs: 4000, runMs: 160, waitMs: 3040 })
    expect(mid.every(s => !s)).toBe(true)
    const up = drive(gate, repeat([0.2, 0.3], 4), { atMs: 10_000, runMs: 760, waitMs: 6640 })
    expect(up.at(-1)).toBe(true)
    // A thread with little to do on a machine still short of cores stays closed; on a free one it reopens.
    const contended = new CompressionGate({ windowMs: 2000 })
    drive(contended, repeat([0.04, 0.76], 4))
    expect(drive(contended, repeat([0.002, 0.05], 4), { atMs: 4000, runMs: 160, waitMs: 3040 }).every(s => !s)).toBe(true)
    const freed = new CompressionGate({ windowMs: 2000 })
    drive(freed, repeat([0.04, 0.76], 4))
    expect(drive(freed, repeat([0.002, 0.0001], 4), { atMs: 4000, runMs: 160, waitMs: 3040 }).at(-1)).toBe(true)
  })

  it('does not close for a thread that hardly wants a core, however little of one it gets', () => {
    const gate = new CompressionGate({ windowMs: 2000 })
    expect(drive(gate, repeat([0.002, 0.1], 6)).every(Boolean)).toBe(true)
  })

  it('a thread that runs nearly all the time is the limit itself, waiting or not', () => {
    const gate = new CompressionGate({ windowMs: 2000 })
    expect(drive(gate, repeat([0.95, 0], 4)).at(-1)).toBe(false)
    expect(gate.reading?.share).toBe(1)
  })

  it('looks back one window, not to the start', () => {
    const gate = new CompressionGate({ windowMs: 3000 })
    // A long stretch of room, then starvation: closes within a window of it, not after the average catches up.
    const states = drive(gate, [...repeat<[number, number]>([0.14, 0.3], 60), ...repeat<[number, number]>([0.04, 0.76], 4)])
    expect(states.slice(0, 60).every(Boolean)).toBe(true)
    expect(states.at(-1)).toBe(false)
  })
})

/**
 * The engine against closed forms, with the built-in sequential policies.
 * Each case must agree within 1%.
 */
import { describe, expect, it } from 'vitest'
import { simulate } from '../src/sim/engine.js'
import { baselineKit } from '../src/sim/baseline.js'
import { resolveScenario, type ScenarioFile } from '../src/sim/scenario.js'

const G = 125e6
const MiB = 1024 * 1024

function scenario (over: Partial<ScenarioFile>): ScenarioFile {
  return {
    name: 'closed-form',
    hosts: 1,
    imageSize: 64 * MiB,
    chunkSize: '1MiB',
    host: { upload: '1Gbit/s', download: '1Gbit/s' },
    frontEnd: { upload: '10Gbit/s', zone: 0 },
    zones: { count: 2, uplink: '10Gbit/s' },
    latencyMs: 0.1,
    ...over
  }
}

function within1pct (actual: number, expected: number): void {
  expect(Math.abs(actual - expected) / expected).toBeLessThan(0.01)
}

describe('simulator against closed forms', () => {
  it('one host, download-bound: S / d', () => {
    const s = resolveScenario(scenario({ hosts: 1 }))
    const r = simulate(s, baselineKit('unicast'))
    expect(r.completed).toBe(true)
    within1pct(r.makespanSeconds, s.imageBytes / G)
    expect(r.frontEndBytes).toBe(s.imageBytes)
  })

  it('one host, source-bound: S / u_s', () => {
    const s = resolveScenario(scenario({ hosts: 1, frontEnd: { upload: '400Mbit/s' } }))
    const r = simulate(s, baselineKit('unicast'))
    within1pct(r.makespanSeconds, s.imageBytes / 50e6)
  })

  it('unicast to N hosts, front-end-bound: N * S / u_s', () => {
    const n = 40
    const s = resolveScenario(scenario({ hosts: n, imageSize: 16 * MiB }))
    const r = simulate(s, baselineKit('unicast'))
    expect(r.hostsDone).toBe(n)
    within1pct(r.makespanSeconds, n * s.imageBytes / (10 * G))
    within1pct(r.meanSeconds, n * s.imageBytes / (10 * G))
    expect(r.frontEndBytes).toBe(n * s.imageBytes)
    // Half the hosts sit behind the inter-switch link.
    expect(r.interZoneBytes).toBe(n / 2 * s.imageBytes)
  })

  it('unicast to N hosts, inter-switch-bound', () => {
    // 20 hosts, 10 behind a 1 Gbit/s inter-switch link: those share it, 0.1 Gbit/s each.
    const s = resolveScenario(scenario({ hosts: 20, imageSize: 8 * MiB, zones: { count: 2, uplink: '1Gbit/s' } }))
    const r = simulate(s, baselineKit('unicast'))
    within1pct(r.makespanSeconds, 10 * s.imageBytes / G)
    // Local hosts get 10G - 1G over 10 hosts = 0.9 Gbit/s each.
    within1pct(r.minSeconds, s.imageBytes / (0.9 * G))
  })

  it('a chain: S / u + (N - 1) * chunk / u', () => {
    const n = 10
    const s = resolveScenario(scenario({ hosts: n, imageSize: 100 * MiB, zones: { count: 1 } }))
    const r = simulate(s, baselineKit('chain'))
    expect(r.hostsDone).toBe(n)
    within1pct(r.makespanSeconds, s.imageBytes / G + (n - 1) * MiB / G)
    expect(r.frontEndBytes).toBe(s.imageBytes)
  })
})

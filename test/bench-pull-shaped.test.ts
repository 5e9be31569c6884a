/**
 * `bench:pull --rate`: the two daemons run in a namespace of their own whose
 * loopback is shaped to the rate, and the namespace is gone afterwards. Needs
 * root, `ip netns` and `tc`; skips otherwise.
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { listNamespaces } from '../bench/cluster/topology.js'
import { netnsUnavailable } from './helpers.js'

const reason = netnsUnavailable()
if (reason !== undefined) console.warn(`bench:pull --rate test skipped: ${reason}`)

describe.skipIf(reason !== undefined)('bench:pull on a shaped loopback', () => {
  it('streams at the shaped rate, reports who paid the CPU, and removes its namespace', () => {
    const script = join(import.meta.dirname, '..', 'dist', 'bench', 'pull.js')
    const r = spawnSync(process.execPath, [script, '--size', '3MiB', '--rounds', '2', '--raw-only', '--rate', '40mbit'], { encoding: 'utf8', timeout: 120_000 })
    expect(r.status, r.stderr).toBe(0)
    const runs = [...r.stdout.matchAll(/raw libp2p stream: (\d+) MB\/s \(CPU both ends [\d.]+ core-s\/GB: sender [\d.]+, receiver [\d.]+; system [\d.]+ of it\)/g)]
    expect(runs).toHaveLength(2)
    // 40 Mbit/s is 5 MB/s; unshaped loopback moves hundreds.
    for (const m of runs) expect(Number(m[1])).toBeLessThanOrEqual(6)
    expect(listNamespaces('imgp2p-bench-')).toEqual([])
  }, 150_000)

  it('refuses a rate tc would not understand, with one line and a non-zero exit', () => {
    const script = join(import.meta.dirname, '..', 'dist', 'bench', 'pull.js')
    const r = spawnSync(process.execPath, [script, '--size', '1MiB', '--raw-only', '--rate', 'fast'], { encoding: 'utf8', timeout: 30_000 })
    expect(r.status).not.toBe(0)
    expect(r.stderr.trim()).toBe('bench:pull: --rate fast: give a tc rate such as 100mbit')
  })
})

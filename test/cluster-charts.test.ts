/** The cluster benchmark's charts from a results file (no namespaces needed). */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { writeCharts } from '../bench/cluster/charts.js'
import type { RunRecord } from '../bench/cluster/metrics.js'
import { sweepPlan } from '../bench/cluster/sweep.js'

const dir = mkdtempSync(join(tmpdir(), 'imgp2p-charts-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

function record (hosts: number, imageKind: string, imageMiB: number, daemonArgs?: string[]): Partial<RunRecord> {
  return {
    label: 'L', hosts, switches: 1, imageKind, imageMiB, chunkBytes: null, hostMbit: 50, frontMbit: 500, tMinS: 10,
    ...(daemonArgs !== undefined ? { daemonArgs } : {}),
    http: daemonArgs === undefined ? { ok: true, makespanS: 10 + hosts, feBytesPerImage: hosts } : { ok: false, error: 'disabled' },
    imgp2p: { ok: true, makespanS: 9 + hosts / 4, feBytesPerImage: 1.02 }
  } as unknown as Partial<RunRecord>
}

describe('cluster benchmark charts', () => {
  it('draws random images by size, and a real image with its uncompressed runs as a line of their own', () => {
    const results = join(dir, 'results.jsonl')
    const rows = [
      ...[1, 4, 16].map(n => record(n, 'random', 64)),
      ...[1, 4, 16].map(n => record(n, 'file:debian.qcow2', 379.13)),
      ...[1, 4, 16].map(n => record(n, 'file:debian.qcow2', 379.13, ['--no-compress'])),
      record(3, 'text', 64) // a kind the charts leave out
    ]
    writeFileSync(results, rows.map(r => JSON.stringify(r)).join('\n') + '\n')
    const files = writeCharts(results, join(dir, 'charts'), 'L').map(f => basename(f))
    expect(files.sort()).toEqual([
      'L-frontend-traffic-64MiB.svg', 'L-frontend-traffic-debian.qcow2.svg', 'L-makespan-64MiB.svg', 'L-makespan-debian.qcow2.svg'
    ])
    const file = readFileSync(join(dir, 'charts', 'L-makespan-debian.qcow2.svg'), 'utf8')
    expect(file).toContain('imgp2p --no-compress')
    expect(file).toContain('HTTP unicast')
    expect(readFileSync(join(dir, 'charts', 'L-makespan-64MiB.svg'), 'utf8')).not.toContain('--no-compress')
  })

  it('sweeps a given image at every N and nothing else', () => {
    const plan = sweepPlan(false, undefined, '/images/debian.qcow2')
    expect(plan.map(s => s.options.hosts)).toEqual([1, 2, 4, 8, 16, 24])
    expect(plan.every(s => s.options.imageMiB === undefined && s.options.switches === undefined)).toBe(true)
  })
})

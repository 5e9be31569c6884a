/**
 * Smoke run of the cluster benchmark (bench/cluster): 3 hosts in network
 * namespaces on shaped links, a 4 MiB image through the HTTP baseline and
 * through real imgp2p daemons. Needs root and `ip netns`; skips otherwise.
 */
import { describe, expect, it } from 'vitest'
import { runOnce } from '../bench/cluster/run.js'
import { listNamespaces } from '../bench/cluster/topology.js'
import { cpuFloorRatio, summary } from '../bench/cluster/metrics.js'
import { markdownTable } from '../bench/cluster/report.js'
import { netnsUnavailable } from './helpers.js'

const reason = netnsUnavailable()
if (reason !== undefined) console.warn(`cluster smoke test skipped: ${reason} (needs root, ip netns and tc)`)

describe.skipIf(reason !== undefined)('cluster benchmark smoke run', () => {
  it('delivers a verified image to 3 hosts over HTTP and imgp2p, then cleans up', async () => {
    const lines: string[] = []
    let record
    try {
      record = await runOnce({
        hosts: 3,
        imageMiB: 4,
        shapeCheckMiB: 1,
        hostMbit: 50,
        frontMbit: 500,
        imgp2p: true,
        timeoutS: 100,
        label: 'smoke',
        resultsFile: undefined,
        timelines: false,
        log: (l) => { lines.push(l) }
      })
    } finally {
      console.log(lines.join('\n'))
    }
    expect(record.http.ok, record.http.error).toBe(true)
    expect(record.http.shaOk).toBe(3)
    expect(record.imgp2p.ok, record.imgp2p.error).toBe(true)
    expect(record.imgp2p.shaOk).toBe(3)
    // Each pull reported its duplicate chunks by cause, and the record sums them.
    expect(Object.keys(record.imgp2p.duplicateChunks?.byCause ?? {}).sort()).toEqual(['choked', 'endGame', 'timeout', 'unexplained', 'withdrawn'])
    expect(summary(record)).toContain('chunks received twice per pull')
    // The links are shaped: one host alone takes about S/B in both directions.
    expect(record.shaping?.downS).toBeGreaterThan(0.8 * (record.shaping?.expectedS ?? 0))
    expect(record.shaping?.upS).toBeGreaterThan(0.8 * (record.shaping?.expectedS ?? 0))
    expect(listNamespaces(`i2p-${process.pid}-`)).toEqual([])
    // The CPU floor: every daemon's pull CPU over the cores, against T_min.
    const cpu = record.imgp2p.pullCpuS
    expect(cpu?.mean).toBeGreaterThan(0)
    const floor = cpuFloorRatio(record)
    expect(floor).toBeCloseTo(((cpu?.fe ?? 0) + 3 * (cpu?.mean ?? 0)) / record.machine.cpus / record.tMinS, 6)
    expect(summary(record)).toContain(`all daemons' CPU on ${record.machine.cpus} cores = ${floor?.toFixed(2)} x T_min`)
    const [head, , row] = markdownTable([record]).split('\n')
    expect(head).toContain('| CPU floor x T_min |')
    expect(row.split('|').length).toBe(head.split('|').length)
    expect(row).toContain(`| ${floor?.toFixed(2)} |`)
  }, 120_000)
})

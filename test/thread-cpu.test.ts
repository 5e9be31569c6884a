import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { threadCpuClock } from '../src/node/thread-cpu.js'

describe('the network thread\'s scheduler counters', () => {
  it.skipIf(process.platform !== 'linux')('count the time this thread runs', () => {
    const clock = threadCpuClock()
    expect(clock).toBeDefined()
    const a = clock?.()
    // Spin for 40 ms of CPU time (not wall time: a loaded machine may give this thread little of a core).
    const cpu0 = process.cpuUsage()
    let spin = 0
    const used = (): number => { const u = process.cpuUsage(cpu0); return u.user + u.system }
    while (used() < 40_000) spin++
    const b = clock?.()
    expect(spin).toBeGreaterThan(0)
    if (a == null || b == null) throw new Error('no reading')
    expect(b.runMs - a.runMs).toBeGreaterThan(30)
    // The counters and the clock are read a moment apart.
    expect(b.runMs - a.runMs).toBeLessThanOrEqual((b.atMs - a.atMs) * 1.05 + 5)
    expect(b.waitMs).toBeGreaterThanOrEqual(a.waitMs)
  })

  it('are absent where the system keeps none, or keeps them in a form it does not know', async () => {
    expect(threadCpuClock('/nonexistent/schedstat')).toBeUndefined()
    const dir = await mkdtemp(join(tmpdir(), 'imgp2p-sched-'))
    try {
      await writeFile(join(dir, 'schedstat'), 'not numbers\n')
      expect(threadCpuClock(join(dir, 'schedstat'))).toBeUndefined()
      await writeFile(join(dir, 'schedstat'), '2000000 500000 7\n')
      expect(threadCpuClock(join(dir, 'schedstat'))?.()).toMatchObject({ runMs: 2, waitMs: 0.5 })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

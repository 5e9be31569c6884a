import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FrameRing } from '../src/cache/frame-ring.js'
import { waitFor } from './helpers.js'

let dir: string
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'imgp2p-ring-')) })
afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

const frame = (n: number, seed: number): Buffer => { const b = randomBytes(n); b[0] = seed; return b }
const same = (a: Uint8Array | undefined, b: Uint8Array): boolean => a != null && Buffer.from(a).equals(b)

describe('FrameRing', () => {
  it('gives back what was put, once written, and nothing for a chunk never put', async () => {
    const ring = new FrameRing(join(dir, 'img'), 1000)
    const a = frame(300, 1)
    ring.put(7, a)
    expect(await ring.get(8)).toBeUndefined()
    await waitFor(() => ring.has(7), 2000)
    expect(same(await ring.get(7), a)).toBe(true)
    expect(ring.bytes).toBe(300)
    // A second put of a kept chunk changes nothing.
    ring.put(7, frame(300, 2))
    await waitFor(() => ring.bytes === 300, 2000)
    expect(same(await ring.get(7), a)).toBe(true)
    await ring.close()
  })

  it('wraps around, dropping exactly the frames it overwrites, even those written after older ones it skips', async () => {
    const ring = new FrameRing(join(dir, 'img'), 100)
    const f = [frame(60, 0), frame(35, 1), frame(50, 2), frame(60, 3)]
    // 0 at [0,60), 1 at [60,95); 2 wraps to [0,50) and drops 0; 3 wraps again to [0,60) and must drop 2, not only 1's neighbours.
    for (const [i, b] of f.entries()) {
      ring.put(i, b)
      await waitFor(() => ring.has(i), 2000)
    }
    expect(await ring.get(0)).toBeUndefined()
    expect(await ring.get(2)).toBeUndefined()
    expect(same(await ring.get(1), f[1])).toBe(true)
    expect(same(await ring.get(3), f[3])).toBe(true)
    expect(ring.bytes).toBe(95)
    // Larger than the ring: not kept.
    ring.put(9, frame(101, 9))
    expect(ring.has(9)).toBe(false)
    await ring.close()
  })

  it('never returns bytes a later frame overwrote while they were read', async () => {
    const ring = new FrameRing(join(dir, 'img'), 100)
    const a = frame(80, 1)
    ring.put(1, a)
    await waitFor(() => ring.has(1), 2000)
    const reading = ring.get(1)
    ring.put(2, frame(80, 2)) // wraps onto a's bytes
    // Dropped the moment the new frame took its place, so the read in flight answers nothing rather than mixed bytes.
    expect(ring.has(1)).toBe(false)
    expect(await reading).toBeUndefined()
    await ring.close()
  })

  it('removes its file on close and when idle, and starts a new one on the next put', async () => {
    const ring = new FrameRing(join(dir, 'img'), 1000)
    ring.put(1, frame(10, 1))
    await waitFor(() => ring.has(1), 2000)
    expect(await readdir(dir)).toHaveLength(1)
    await ring.releaseIdle(Date.now(), 60_000) // used just now: kept
    expect(ring.has(1)).toBe(true)
    await ring.releaseIdle(Date.now() + 60_000, 60_000)
    expect(ring.has(1)).toBe(false)
    expect(await readdir(dir)).toHaveLength(0)
    const b = frame(10, 2)
    ring.put(2, b)
    await waitFor(() => ring.has(2), 2000)
    expect(same(await ring.get(2), b)).toBe(true)
    await ring.close()
    expect(await readdir(dir)).toHaveLength(0)
    ring.put(3, frame(10, 3))
    expect(ring.has(3)).toBe(false)
    expect(await readdir(dir)).toHaveLength(0)
  })
})

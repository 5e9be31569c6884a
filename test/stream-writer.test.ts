import type { Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { BoundedWriter } from '../src/node/stream-writer.js'

/** The parts of a libp2p stream the writer uses; every send is recorded as one muxer frame. */
function fakeStream (): { stream: Stream, sends: Array<Uint8Array | Uint8ArrayList> } {
  const sends: Array<Uint8Array | Uint8ArrayList> = []
  const stream = {
    writeStatus: 'writable',
    writableNeedsDrain: false,
    writeBufferLength: 0,
    send: (buf: Uint8Array | Uint8ArrayList) => { sends.push(buf); return true },
    addEventListener: () => {},
    removeEventListener: () => {}
  }
  return { stream: stream as unknown as Stream, sends }
}

const frame = (b: number): Uint8Array => Uint8Array.of(b, b)
const microtasks = async (): Promise<void> => { await Promise.resolve(); await Promise.resolve() }

describe('BoundedWriter control frames', () => {
  beforeEach(() => { vi.useFakeTimers() })
  afterEach(() => { vi.useRealTimers() })

  it('sends the frames of one turn as one write', async () => {
    const { stream, sends } = fakeStream()
    const w = new BoundedWriter(stream)
    w.sendNow(frame(1))
    w.sendNow(frame(2))
    expect(sends).toHaveLength(0)
    await microtasks()
    expect(sends.map(s => [...s.subarray()])).toEqual([[1, 1, 2, 2]])
  })

  it('holds frames that may wait until the first has waited its time, then sends them together', async () => {
    const { stream, sends } = fakeStream()
    const w = new BoundedWriter(stream)
    w.sendSoon(frame(1), 200)
    await vi.advanceTimersByTimeAsync(150)
    w.sendSoon(frame(2), 200)
    await vi.advanceTimersByTimeAsync(40)
    expect(sends).toHaveLength(0)
    await vi.advanceTimersByTimeAsync(10)
    expect(sends.map(s => [...s.subarray()])).toEqual([[1, 1, 2, 2]])
    await vi.advanceTimersByTimeAsync(1000)
    expect(sends).toHaveLength(1)
  })

  it('lets waiting frames leave with the next frame sent at once, and cancels their timer', async () => {
    const { stream, sends } = fakeStream()
    const w = new BoundedWriter(stream)
    w.sendSoon(frame(1), 200)
    await vi.advanceTimersByTimeAsync(50)
    w.sendNow(frame(3))
    await microtasks()
    expect(sends.map(s => [...s.subarray()])).toEqual([[1, 1, 3, 3]])
    await vi.advanceTimersByTimeAsync(1000)
    expect(sends).toHaveLength(1)
  })

  it('sends a chunk and the frames still waiting as one frame, waiting frames first', async () => {
    const { stream, sends } = fakeStream()
    const w = new BoundedWriter(stream)
    await w.write([Uint8Array.of(9), Uint8Array.of(8, 8)])
    expect(sends.map(s => [...s.subarray()])).toEqual([[9, 8, 8]])
    w.sendSoon(frame(1), 200)
    await w.write([Uint8Array.of(7), Uint8Array.of(6, 6)])
    expect(sends.map(s => [...s.subarray()])).toEqual([[9, 8, 8], [1, 1, 7, 6, 6]])
    await vi.advanceTimersByTimeAsync(1000)
    expect(sends).toHaveLength(2)
  })
})

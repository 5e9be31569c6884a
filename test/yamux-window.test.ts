/**
 * yamux credit granted once half the window is used (src/node/yamux-window.ts):
 * the rule on its own, and installed in the library between two real nodes.
 */
import { yamux } from '@chainsafe/libp2p-yamux'
import { StreamState } from '@chainsafe/libp2p-yamux/stream'
import type { Libp2p, Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { randomBytes } from 'node:crypto'
import { Uint8ArrayList } from 'uint8arraylist'
import { afterEach, describe, expect, it } from 'vitest'
import { socketTls } from '../src/node/socket-tls.js'
import { type WindowState, hasWindowState, installWindowUpdates, sendWindowUpdate } from '../src/node/yamux-window.js'

type Frame = Parameters<WindowState['sendFrame']>[0]

function fakeStream (window: number, opts: { rtt?: number, flags?: number[], max?: number } = {}): WindowState & { frames: Frame[], receive: (n: number) => void } {
  const flags = [...(opts.flags ?? [])]
  const frames: Frame[] = []
  const s = {
    state: StreamState.Established,
    streamId: 7,
    recvWindow: window,
    recvWindowCapacity: window,
    maxStreamWindowSize: opts.max ?? window,
    epochStart: Date.now(),
    getRTT: () => opts.rtt ?? -1,
    getSendFlags: () => flags.shift() ?? 0,
    sendFrame: (h: Frame) => { frames.push(h); return true },
    frames,
    // What YamuxStream.handleData does with a data frame of n bytes.
    receive: (n: number) => { s.recvWindowCapacity -= n; sendWindowUpdate.call(s) }
  }
  return s
}

describe('yamux credit', () => {
  it('is granted once half the window is used, for all of it, not per frame', () => {
    const s = fakeStream(256 * 1024)
    for (let i = 0; i < 1310; i++) s.receive(100)
    expect(s.frames).toHaveLength(0)
    s.receive(100) // 131,100 bytes: past half of 256 KiB
    expect(s.frames).toEqual([{ type: 1, flag: 0, streamID: 7, length: 131_100 }])
    expect(s.recvWindowCapacity).toBe(256 * 1024)
    for (let i = 0; i < 1310; i++) s.receive(100)
    expect(s.frames).toHaveLength(1)
  })

  it('is granted at once with a flag that opens or acknowledges the stream', () => {
    const s = fakeStream(256 * 1024, { flags: [1] })
    sendWindowUpdate.call(s)
    expect(s.frames).toEqual([{ type: 1, flag: 1, streamID: 7, length: 0 }])
  })

  it('is not granted while the stream is paused', () => {
    const s = fakeStream(256 * 1024)
    s.state = StreamState.Paused
    s.receive(200 * 1024)
    expect(s.frames).toHaveLength(0)
  })

  it('keeps the window growing while data comes within four round trips', () => {
    const s = fakeStream(256 * 1024, { rtt: 10_000, max: 16 * 1024 * 1024 })
    for (let i = 0; i < 10; i++) s.receive(1000)
    expect(s.recvWindow).toBe(16 * 1024 * 1024)
  })
})

describe('yamux credit between two nodes', () => {
  let nodes: Libp2p[] = []
  afterEach(async () => {
    await Promise.all(nodes.map(async n => await n.stop()))
    nodes = []
  })

  it('is installed, moves data intact, and sends a handful of updates for a thousand small frames', async () => {
    expect(installWindowUpdates()).toBe(true)
    const make = async (): Promise<Libp2p> => {
      const n = await createLibp2p({
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [tcp()],
        connectionEncrypters: [socketTls() as never],
        streamMuxers: [yamux()]
      })
      nodes.push(n)
      return n
    }
    const [a, b] = [await make(), await make()]
    const big = randomBytes(4 << 20)
    let updates = 0
    const got = new Uint8ArrayList()
    let want = 1000 * 9
    let arrived: () => void = () => {}
    const wait = async (bytes: number): Promise<void> => {
      want = bytes
      await new Promise<void>((resolve) => { arrived = resolve; if (got.byteLength >= want) resolve() })
    }
    await b.handle('/test/credit/1.0.0', (stream: Stream) => {
      expect(hasWindowState(stream)).toBe(true)
      // Count the frames this receiving stream sends: WINDOW_UPDATEs only, since it sends no data.
      const s = stream as unknown as WindowState
      const send = s.sendFrame
      s.sendFrame = (h) => { if (h.type === 1) updates++; return send(h) }
      stream.addEventListener('message', (evt) => {
        got.append(evt.data)
        if (got.byteLength >= want) arrived()
      })
    })
    const conn = await a.dial(b.getMultiaddrs()[0])
    const stream = await conn.newStream('/test/credit/1.0.0')
    // Like a swarm link: many small frames (HAVEs), each its own send and so its own data frame.
    const small = wait(1000 * 9)
    for (let i = 0; i < 1000; i++) {
      stream.send(Uint8Array.of(0, 0, 0, 5, 1, 0, 0, 0, i & 0xff))
      if (i % 50 === 49) await new Promise(resolve => setImmediate(resolve))
    }
    await small
    // The library's own rule answers each of them: a thousand updates. Ours
    // answers the six that double the window from 256 KiB to 16 MiB (when the
    // round trip is known by then), and no more.
    expect(updates).toBeLessThanOrEqual(6)
    // Then chunk data, many times the initial 256 KiB window: credit must keep coming.
    const all = wait(1000 * 9 + big.length)
    for (let i = 0; i < big.length; i += 65536) stream.send(big.subarray(i, i + 65536))
    await all
    expect(Buffer.compare(Buffer.from(got.subarray(9000)), big)).toBe(0)
    expect(updates).toBeGreaterThan(0)
  }, 30_000)
})

/** A link's word on compressed chunks: what the peer said last, and what we may say to whom. */
import type { Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { Link } from '../src/node/link.js'
import { MsgType, type Hello, type WireMessage } from '../src/node/wire.js'

/** Two ends of an in-memory stream: what one sends arrives at the other as a 'message' event. */
function streamPair (): [Stream, Stream] {
  const ends: EventTarget[] = []
  const end = (peerIndex: number): EventTarget => {
    const send = (buf: Uint8Array | Uint8ArrayList): boolean => {
      const data = buf instanceof Uint8Array ? buf : buf.subarray()
      queueMicrotask(() => { ends[peerIndex].dispatchEvent(Object.assign(new Event('message'), { data })) })
      return true
    }
    return Object.assign(new EventTarget(), {
      writeStatus: 'writable',
      writableNeedsDrain: false,
      writeBufferLength: 0,
      maxReadBufferLength: 0,
      send,
      close: async () => {},
      abort: () => {}
    })
  }
  ends.push(end(1), end(0))
  return [ends[0] as unknown as Stream, ends[1] as unknown as Stream]
}

const hello = (extra: Partial<Hello>): Hello => ({ cid: new Uint8Array([1]), chunkCount: 4, have: null, zone: null, origin: false, linkBps: null, ...extra })

/** A link pair with both HELLOs exchanged; `got` collects what the far end receives after them. */
async function linked (ours: Partial<Hello>, theirs: Partial<Hello>): Promise<{ near: Link, far: Link, got: WireMessage[] }> {
  const [s1, s2] = streamPair()
  const near = new Link(s1, 'far', 'local', 0, 1024)
  const far = new Link(s2, 'near', 'remote', 0, 1024)
  near.sendHello(hello(ours))
  far.sendHello(hello(theirs))
  await Promise.all([near.readHello(), far.readHello()])
  const got: WireMessage[] = []
  far.attach({ onMessage: (_, m) => { got.push(m) }, onClose: () => {} })
  near.attach({ onMessage: (l, m) => { if (m.type === MsgType.TakeZstd || m.type === MsgType.NoZstd) l.onZstdWish(m.type === MsgType.TakeZstd) }, onClose: () => {} })
  return { near, far, got }
}

const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await Promise.resolve() }

describe('link: compressed chunks', () => {
  it('tells a peer that knows the signals when we stop and start taking PIECE_ZSTD, once per change', async () => {
    const { near, got } = await linked({ zstd: true, zstdSignals: true }, { zstd: true, zstdSignals: true })
    near.offerZstd(true) // what the HELLO said: nothing to tell
    near.offerZstd(false)
    near.offerZstd(false)
    await settle()
    expect(got.map(m => m.type)).toEqual([MsgType.NoZstd])
    near.offerZstd(true)
    await settle()
    expect(got.map(m => m.type)).toEqual([MsgType.NoZstd, MsgType.TakeZstd])
  })

  it('says nothing to an older peer, whose HELLO does not know the signals (it would close the stream)', async () => {
    const { near, got } = await linked({ zstd: true, zstdSignals: true }, { zstd: true })
    near.offerZstd(false)
    await settle()
    expect(got).toEqual([])
  })

  it('sends to a peer compressed chunks as its HELLO, then its last signal, says', async () => {
    const { near, far } = await linked({ zstd: true, zstdSignals: true }, { zstd: true, zstdSignals: true })
    expect(near.takesZstd).toBe(true)
    far.offerZstd(false)
    await settle()
    expect(near.takesZstd).toBe(false)
    far.offerZstd(true)
    await settle()
    expect(near.takesZstd).toBe(true)
  })
})

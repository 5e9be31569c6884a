/** The swarm wire format: frames survive arbitrary splitting, and hostile frames are refused. */
import { describe, expect, it } from 'vitest'
import { Uint8ArrayList } from 'uint8arraylist'
import {
  FrameDecoder, MsgType, encodeHello, encodeIndexed, encodePeers, encodePieceHeader, encodeSignal, type WireMessage
} from '../src/node/wire.js'

function stream (): Uint8Array {
  const piece = new Uint8Array(1000).map((_, i) => i & 0xff)
  const parts = [
    encodeHello({ cid: new Uint8Array([1, 2, 3]), chunkCount: 12, have: new Uint8Array([0b10100000, 0b00010000]), zone: 'rack1', origin: false, linkBps: 1e9 }),
    encodeIndexed(MsgType.Have, 7),
    encodeSignal(MsgType.FullService),
    encodeSignal(MsgType.Unchoke),
    encodeSignal(MsgType.NoZstd),
    encodeSignal(MsgType.TakeZstd),
    encodeIndexed(MsgType.Request, 0xfffffffe),
    encodePieceHeader(5, piece.length), piece,
    encodePeers([{ id: '12D3KooWabc', addrs: [new Uint8Array([4, 127, 0, 0, 1])] }]),
    encodeIndexed(MsgType.Cancel, 3),
    encodeIndexed(MsgType.Damaged, 11)
  ]
  return new Uint8ArrayList(...parts).subarray()
}

function decodeInSlices (bytes: Uint8Array, slice: number): WireMessage[] {
  const d = new FrameDecoder(4096)
  const out: WireMessage[] = []
  for (let i = 0; i < bytes.length; i += slice) out.push(...d.push(bytes.subarray(i, i + slice)))
  return out
}

describe('wire frames', () => {
  it('decode the same whatever the slicing', () => {
    const bytes = stream()
    const whole = decodeInSlices(bytes, bytes.length)
    expect(whole.map(m => m.type)).toEqual([MsgType.Hello, MsgType.Have, MsgType.FullService, MsgType.Unchoke, MsgType.NoZstd, MsgType.TakeZstd, MsgType.Request, MsgType.Piece, MsgType.Peers, MsgType.Cancel, MsgType.Damaged])
    // PIECE parts differ with the slicing; compare their bytes.
    const flat = (ms: WireMessage[]): unknown[] => ms.map(m => 'data' in m ? { ...m, data: new Uint8ArrayList(...m.data).subarray() } : m)
    for (const slice of [1, 3, 7, 64, 999]) expect(flat(decodeInSlices(bytes, slice))).toEqual(flat(whole))
    // As the stream delivers it: lists of slices.
    const lists = new FrameDecoder(4096)
    const got: WireMessage[] = []
    for (let i = 0; i < bytes.length; i += 50) {
      const list = new Uint8ArrayList()
      for (let j = i; j < Math.min(i + 50, bytes.length); j += 7) list.append(bytes.subarray(j, Math.min(j + 7, i + 50, bytes.length)))
      got.push(...lists.push(list))
    }
    expect(flat(got)).toEqual(flat(whole))
    const hello = whole[0] as Extract<WireMessage, { hello: unknown }>
    expect(hello.hello).toMatchObject({ chunkCount: 12, zone: 'rack1', origin: false, linkBps: 1e9 })
    const req = whole[6] as { index: number }
    expect(req.index).toBe(0xfffffffe)
    const piece = whole[7] as Extract<WireMessage, { length: number }>
    expect(piece.index).toBe(5)
    expect(piece.length).toBe(1000)
    const joined = new Uint8ArrayList(...piece.data).subarray()
    expect(joined.length).toBe(1000)
    expect(joined[999]).toBe(999 & 0xff)
    expect(whole[10]).toEqual({ type: MsgType.Damaged, index: 11 })
  })

  it('reads a HELLO link rate that is not a positive number as unknown', () => {
    for (const linkBps of [-1, 0]) {
      const [m] = new FrameDecoder(64).push(encodeHello({ cid: new Uint8Array([1]), chunkCount: 1, have: null, zone: null, origin: false, linkBps }))
      expect((m as Extract<WireMessage, { hello: unknown }>).hello.linkBps).toBeNull()
    }
  })

  it('carries the starving, zstd, zstdSignals and damageReports flags only when set', () => {
    const base = { cid: new Uint8Array([1]), chunkCount: 1, have: null, zone: null, origin: false, linkBps: null }
    for (const flag of ['starving', 'zstd', 'zstdSignals', 'damageReports'] as const) {
      const decode = (h: typeof base & { starving?: boolean, zstd?: boolean, zstdSignals?: boolean, damageReports?: boolean }): boolean | undefined =>
        (new FrameDecoder(64).push(encodeHello(h))[0] as Extract<WireMessage, { hello: unknown }>).hello[flag]
      expect(decode({ ...base, [flag]: true })).toBe(true)
      expect(decode(base)).toBe(false)
      // Older peers send no such key; the frame is the same bytes as before.
      expect(encodeHello({ ...base, [flag]: false })).toEqual(encodeHello(base))
    }
  })

  it('carries PIECE_ZSTD as a piece marked compressed, under the same size bound', () => {
    const payload = new Uint8Array(300).fill(7)
    const bytes = new Uint8ArrayList(encodePieceHeader(9, payload.length, true), payload, encodePieceHeader(10, 3), new Uint8Array(3)).subarray()
    for (const slice of [1, 5, 64, bytes.length]) {
      const [z, plain] = decodeInSlices(bytes, slice) as Array<Extract<WireMessage, { length: number }>>
      expect(z).toMatchObject({ type: MsgType.Piece, index: 9, length: 300, zstd: true })
      expect(new Uint8ArrayList(...z.data).subarray()).toEqual(payload)
      expect(plain.zstd).toBeUndefined()
    }
    expect(() => new FrameDecoder(256).push(encodePieceHeader(0, 300, true))).toThrow(/over the limit/)
  })

  it('refuses a PIECE larger than the image chunk size', () => {
    const d = new FrameDecoder(1024)
    expect(() => d.push(encodePieceHeader(0, 4096))).toThrow(/over the limit/)
  })

  it('refuses an oversized control frame before buffering it', () => {
    const header = new Uint8Array(5)
    new DataView(header.buffer).setUint32(0, 64 * 1024 * 1024)
    header[4] = MsgType.Have
    expect(() => new FrameDecoder(1024).push(header)).toThrow(/over the limit/)
  })

  it('refuses unknown types and malformed bodies', () => {
    const bad = new Uint8Array([0, 0, 0, 1, 42])
    expect(() => new FrameDecoder(1024).push(bad)).toThrow(/unknown message type 42/)
    const shortHave = new Uint8Array([0, 0, 0, 3, MsgType.Have, 0, 1])
    expect(() => new FrameDecoder(1024).push(shortHave)).toThrow(/expected 4/)
  })
})

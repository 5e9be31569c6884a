/**
 * The uploader (src/node/uploader.ts) against a stand-in link: what a choke
 * does to the requests it has queued.
 */
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import type { ImageStore } from '../src/cache/types.js'
import type { Link } from '../src/node/link.js'
import { Uploader } from '../src/node/uploader.js'
import type { Choker } from '../src/policy/types.js'
import { Bitfield } from '../src/util/bitfield.js'

const CID_TEXT = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

/** What the uploader uses of a link, recording what it was told to send. */
class FakeLink {
  readonly peer = 'peer-a'
  amChoking = true
  peerInterested = true
  closed = false
  takesZstd = false
  remoteHello = undefined
  rttMs = 1
  readonly sent: string[] = []
  readonly meter = { sample: () => 0, add: () => {} }
  get downloaded (): typeof this.meter { return this.meter }
  get uploaded (): typeof this.meter { return this.meter }
  /** Each piece waits for release(): the wire is busy with it. */
  private waiting: Array<() => void> = []
  choke (c: boolean): void {
    if (c === this.amChoking) return
    this.amChoking = c
    this.sent.push(c ? 'CHOKE' : 'UNCHOKE')
  }

  reject (i: number): void { this.sent.push(`REJECT ${i}`) }
  async piece (i: number, data: Uint8Array): Promise<number> {
    this.sent.push(`PIECE ${i}`)
    await new Promise<void>(resolve => this.waiting.push(resolve))
    return data.length
  }

  release (): void { this.waiting.shift()?.() }
}

const settle = async (): Promise<void> => { for (let i = 0; i < 20; i++) await new Promise(resolve => setImmediate(resolve)) }

/** An uploader with one seeded image and one stand-in link; `choke()` makes the next rechoke drop the link. */
function setup (withheld?: ReadonlySet<number>): { link: FakeLink, up: Uploader, choke: () => void } {
  const link = new FakeLink()
  let keep = true
  const choker: Choker = {
    config: { uploadSlots: 4, optimisticEvery: 3, rechokeIntervalMs: 1000, farSlots: 0 },
    rechoke: () => ({ unchoked: keep ? [link.peer] : [] })
  } as unknown as Choker
  const store = { readChunk: async () => new Uint8Array(8) } as unknown as ImageStore
  const up = new Uploader({
    cid: CID.parse(CID_TEXT),
    store,
    choker,
    held: () => Bitfield.full(8),
    withheld,
    seeding: () => true,
    haveCountOf: () => 0,
    links: new Map([[link.peer, link as unknown as Link]]),
    log: () => {}
  })
  return { link, up, choke: () => { keep = false } }
}

describe('Uploader', () => {
  it('refuses a chunk withheld as damaged on disk, and serves the rest', async () => {
    const { link, up } = setup(new Set([2]))
    up.addLink(link as unknown as Link, 0)
    for (const i of [1, 2]) up.onRequest(link as unknown as Link, i)
    await settle()
    expect(link.sent).toEqual(['UNCHOKE', 'REJECT 2', 'PIECE 1'])
  })

  it('refuses every queued request at a choke, and serves none of them after a quick unchoke', async () => {
    const { link, up, choke } = setup()
    up.addLink(link as unknown as Link, 0) // a free slot: unchoked at once
    for (const i of [0, 1, 2, 3]) up.onRequest(link as unknown as Link, i)
    await settle()
    expect(link.sent).toEqual(['UNCHOKE', 'PIECE 0'])
    link.release()
    await settle()
    expect(link.sent.slice(2)).toEqual(['PIECE 1']) // 2 is read ahead, 3 waits in the queue
    choke()
    up.tick(Date.now() + 1000) // a rechoke a round after the unchoke chokes the peer while chunk 1 is on the wire
    expect(link.sent.slice(3)).toEqual(['CHOKE', 'REJECT 3'])
    up.onInterested(link as unknown as Link) // a free slot again: unchoked
    link.release()
    await settle()
    // Chunk 2 was taken off the queue before the choke: the peer gave it up, so it is refused too.
    expect(link.sent.slice(5)).toEqual(['UNCHOKE', 'REJECT 2'])
    // A request after the unchoke is served.
    up.onRequest(link as unknown as Link, 4)
    await settle()
    expect(link.sent.slice(7)).toEqual(['PIECE 4'])
    link.release()
  })

  it('leaves a partner unchoked for a round after unchoking it, though its INTERESTED has not come yet', async () => {
    const { link, up, choke } = setup()
    link.peerInterested = false
    choke()
    up.addLink(link as unknown as Link, 0) // a free slot: unchoked at once
    up.tick(Date.now() + 10) // the rechoke comes right after
    expect(link.sent).toEqual(['UNCHOKE'])
    up.tick(Date.now() + 1500) // a round later, still not interested: choked
    expect(link.sent).toEqual(['UNCHOKE', 'CHOKE'])
  })

  it('serves a chunk asked twice once, while the first request is still queued or on the wire', async () => {
    const { link, up } = setup()
    up.addLink(link as unknown as Link, 0)
    const L = link as unknown as Link
    up.onRequest(L, 0)
    up.onRequest(L, 1)
    await settle()
    up.onRequest(L, 0) // on the wire
    up.onRequest(L, 1) // read ahead
    up.onRequest(L, 2)
    up.onRequest(L, 2) // queued
    for (let i = 0; i < 4; i++) { link.release(); await settle() }
    expect(link.sent).toEqual(['UNCHOKE', 'PIECE 0', 'PIECE 1', 'PIECE 2'])
    up.onRequest(L, 0) // served and done: a new request is served again
    await settle()
    expect(link.sent.at(-1)).toBe('PIECE 0')
    link.release()
  })
})

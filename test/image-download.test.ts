/** When a download tells the network (gossip) of its partial copy. */
import { describe, expect, it } from 'vitest'
import type { PartialImage } from '../src/cache/types.js'
import { type DownloadContext, type HeldNews, ImageDownload } from '../src/node/image-download.js'
import type { DownloadPolicy } from '../src/policy/types.js'
import { Bitfield } from '../src/util/bitfield.js'

const CHUNKS = 100
const CHUNK_BYTES = 1024 * 1024

/** A download of CHUNKS chunks started at 0 that holds `held` of them, fetched at an even rate. */
function download (held: number, newsAfterMs: number): { dl: ImageDownload, news: HeldNews[] } {
  const news: HeldNews[] = []
  const have = new Bitfield(CHUNKS)
  for (let i = 0; i < held; i++) have.set(i)
  const partial = { have, manifest: { chunkSize: CHUNK_BYTES } } as unknown as PartialImage
  const policy = { expire: () => [], pick: () => [], feederPeer: undefined } as unknown as DownloadPolicy
  const ctx = {
    key: 'image', chunkCount: CHUNKS, links: new Map(), log: () => {}, partialNewsAfterMs: newsAfterMs,
    onHeldChanged: (what: HeldNews) => { news.push(what) }
  } as unknown as DownloadContext
  const dl = new ImageDownload(ctx, partial, policy, 0)
  dl.bytes = held * CHUNK_BYTES
  return { dl, news }
}

describe('partial-copy news', () => {
  it('is told once the pull has run partialNewsAfterMs, if it has at least as long to go', () => {
    // A quarter done after 30 s: 90 s to go.
    const { dl, news } = download(25, 30_000)
    dl.tick(29_000)
    expect(news).toEqual([])
    dl.tick(30_000)
    dl.tick(31_000)
    expect(news).toEqual(['partial'])
  })

  it('is not told by a pull about to end: its completion will be', () => {
    // 90 % done after 30 s: ~3 s to go.
    const { dl, news } = download(90, 30_000)
    dl.tick(30_000)
    dl.tick(60_000)
    expect(news).toEqual([])
  })
})

describe('compressed chunks', () => {
  it('takes a PIECE_ZSTD that inflates beyond the chunk size as a corrupt chunk from that peer, and writes nothing', async () => {
    const { zstdCompressSync } = await import('node:zlib')
    const corrupt: Array<{ peer: string, chunk: number }> = []
    const writes: number[] = []
    const partial = { have: new Bitfield(4), writeChunk: async (i: number) => { writes.push(i) } } as unknown as PartialImage
    const policy = {
      expire: () => [],
      pick: () => [],
      onArrived: () => {},
      onCorrupt: (peer: string, chunk: number) => { corrupt.push({ peer, chunk }); return { drop: false } }
    } as unknown as DownloadPolicy
    const dropped: Array<{ index: number, drop: boolean }> = []
    const ctx = {
      key: 'image', chunkCount: 4, chunkBytes: 64 * 1024, links: new Map(), log: () => {}, partialNewsAfterMs: 1e9,
      onHeldChanged: () => {}, onCorrupt: (_link: unknown, index: number, drop: boolean) => { dropped.push({ index, drop }) }
    } as unknown as DownloadContext
    const dl = new ImageDownload(ctx, partial, policy, 0)
    const link = { peer: 'liar' } as unknown as Parameters<ImageDownload['onPiece']>[0]
    const bomb = zstdCompressSync(Buffer.alloc(1024 * 1024))
    dl.onPiece(link, 2, [bomb], bomb.length, true)
    await new Promise(resolve => setTimeout(resolve, 200))
    expect(corrupt).toEqual([{ peer: 'liar', chunk: 2 }])
    expect(dropped).toEqual([{ index: 2, drop: false }])
    expect(writes).toEqual([])
  })
})

/**
 * Origin mode (the front-end), super-seeding in spirit. Each peer is shown a
 * small window of chunks that no peer holds yet, each chunk shown to as few
 * peers as possible; a slot frees when its chunk is sent (or turns up at any
 * peer), so a lone host still streams at full speed while many hosts split
 * the image among themselves and the origin sends about one image's worth.
 * Once every chunk has left the origin, everything is revealed (rarest first)
 * so the tail finishes fast; downloaders still take from the origin only what
 * no other peer holds.
 *
 * Zones: while peers of the origin's own zone still miss chunks, peers in
 * other zones get at most `farRevealWindow` unsent chunks (each of those
 * crosses the boundary twice: out, and back to our zone), so new chunks
 * enter the swarm on the origin's side and cross once.
 */
import { Bitfield } from '../util/bitfield.js'
import { ChunkBuckets } from './chunk-buckets.js'
import { DEFAULT_ORIGIN_CONFIG } from './constants.js'
import { randomInt, shuffle } from './rng.js'
import type { OriginConfig, OriginPolicy, OriginPolicyOptions, PeerKey, PeerMeta, Rng } from './types.js'

interface OriginPeer {
  key: PeerKey
  near: boolean
  has: Bitfield
  revealed: Bitfield
  /** Revealed to it, not yet sent to it, held by no peer. */
  open: Set<number>
  revealedAll: boolean
}

export function createOriginPolicy (opts: OriginPolicyOptions): OriginPolicy {
  return new Origin(opts)
}

class Origin implements OriginPolicy {
  private readonly n: number
  private readonly cfg: Required<OriginConfig>
  private readonly rng: Rng
  private readonly zone?: string
  private readonly peers = new Map<PeerKey, OriginPeer>()
  /** Connected peers holding each chunk. */
  private readonly holders: Int32Array
  /** Peers each chunk is open at. */
  private readonly openCount: Int32Array
  private readonly sent: Uint8Array
  private sentDistinct = 0
  /** Never-sent chunks no peer holds, by how many peers they are open at. */
  private readonly pool: ChunkBuckets
  private nearMissing = 0

  constructor (opts: OriginPolicyOptions) {
    this.n = opts.chunkCount
    this.cfg = { ...DEFAULT_ORIGIN_CONFIG, ...definedOnly(opts.config) }
    this.rng = opts.rng
    this.zone = opts.zone
    this.holders = new Int32Array(this.n)
    this.openCount = new Int32Array(this.n)
    this.sent = new Uint8Array(this.n)
    this.pool = new ChunkBuckets(this.n)
    for (let c = 0; c < this.n; c++) this.pool.put(c, 0)
  }

  get allSent (): boolean { return this.sentDistinct === this.n }

  addPeer (peer: PeerKey, meta: PeerMeta): void {
    if (this.peers.has(peer)) return
    const near = this.zone === undefined || meta.zone === undefined || meta.zone === this.zone
    this.peers.set(peer, {
      key: peer, near, has: new Bitfield(this.n), revealed: new Bitfield(this.n), open: new Set(), revealedAll: false
    })
    if (near && this.n > 0) this.nearMissing++
  }

  removePeer (peer: PeerKey): void {
    const p = this.peers.get(peer)
    if (p === undefined) return
    this.peers.delete(peer)
    for (const c of p.open) this.close(c)
    for (const c of p.has.indexes()) {
      if (--this.holders[c] === 0 && this.sent[c] === 0) this.pool.put(c, this.openCount[c])
    }
    if (p.near && !p.has.complete) this.nearMissing--
  }

  onPeerHave (peer: PeerKey, chunk: number): void {
    const p = this.peers.get(peer)
    if (p === undefined || chunk < 0 || chunk >= this.n || !p.has.set(chunk)) return
    if (p.near && p.has.complete) this.nearMissing--
    this.holders[chunk]++
    this.pool.delete(chunk)
    // Someone holds it now: it no longer occupies anyone's window.
    if (this.openCount[chunk] > 0) {
      for (const q of this.peers.values()) if (q.open.delete(chunk)) this.close(chunk)
    }
  }

  onSent (peer: PeerKey, chunk: number): void {
    if (chunk < 0 || chunk >= this.n) return
    if (this.sent[chunk] === 0) {
      this.sent[chunk] = 1
      this.sentDistinct++
      this.pool.delete(chunk)
    }
    const p = this.peers.get(peer)
    if (p !== undefined && p.open.delete(chunk)) this.close(chunk)
  }

  reveal (peer: PeerKey, _now: number): number[] {
    const p = this.peers.get(peer)
    if (p === undefined) return []
    if (this.allSent) return this.revealAll(p)
    const window = p.near || this.nearMissing === 0 ? this.cfg.revealWindow : this.cfg.farRevealWindow
    const out: number[] = []
    while (p.open.size < window) {
      // Fresh chunks (shown to nobody) fill the window; a chunk already shown
      // to someone else is shown again only to keep this peer from idling.
      const c = this.choose(p, p.open.size === 0)
      if (c < 0) break
      p.revealed.set(c)
      p.open.add(c)
      this.openCount[c]++
      this.pool.put(c, this.openCount[c])
      out.push(c)
    }
    return out
  }

  /** The least-shown unsent chunk not yet revealed to this peer, at random among equals. */
  private choose (p: OriginPeer, allowShared: boolean): number {
    const top = allowShared ? this.pool.levels : Math.min(1, this.pool.levels)
    for (let lvl = 0; lvl < top; lvl++) {
      const b = this.pool.bucket(lvl)
      const len = b.length
      if (len === 0) continue
      let i = randomInt(this.rng, len)
      for (let k = 0; k < len; k++, i++) {
        if (i >= len) i = 0
        if (!p.revealed.has(b[i])) return b[i]
      }
    }
    return -1
  }

  private revealAll (p: OriginPeer): number[] {
    if (p.revealedAll) return []
    p.revealedAll = true
    const out: number[] = []
    for (let c = 0; c < this.n; c++) if (!p.revealed.has(c) && !p.has.has(c)) out.push(c)
    shuffle(out, this.rng)
    const h = this.holders
    out.sort((a, b) => h[a] - h[b])
    for (const c of out) p.revealed.set(c)
    for (const c of p.open) this.close(c)
    p.open.clear()
    return out
  }

  private close (c: number): void {
    this.openCount[c]--
    if (this.pool.has(c)) this.pool.put(c, this.openCount[c])
  }
}

function definedOnly<T extends object> (o: T | undefined): Partial<T> {
  const out: Partial<T> = {}
  for (const [k, v] of Object.entries(o ?? {})) if (v !== undefined) (out as Record<string, unknown>)[k] = v
  return out
}

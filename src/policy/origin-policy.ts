/**
 * Origin mode (the front-end), super-seeding in spirit. Each peer is shown a
 * small window of chunks that no peer holds yet, each chunk shown to as few
 * peers as possible; a slot frees when its chunk is sent (or turns up at any
 * peer), so a lone host still streams at full speed while many hosts split
 * the image among themselves and the origin sends about one image's worth.
 * Once every chunk has left the origin, chunks no peer holds (lost ones) are
 * revealed at once. A request for a chunk that a peer holds, or that is on its
 * way to another peer, is refused (REJECT): under load a HAVE takes seconds
 * to arrive, and a host that had not heard of the holder yet asked us, which
 * made the front-end send 1.3-1.7 images at 16-24 hosts.
 *
 * Full service: when the operators stated link rates and the origin's upload
 * covers every peer still pulling at its full rate (a 10 Gbit/s front-end and
 * up to ten 1 Gbit/s hosts), sparing the origin only slows the hosts down: it
 * then reveals everything and serves like any seed, as a plain copy would.
 *
 * Zones: while peers of the origin's own zone still miss chunks, peers in
 * other zones get at most `farRevealWindow` unsent chunks (each of those
 * crosses the boundary twice: out, and back to our zone), so new chunks
 * enter the swarm on the origin's side and cross once.
 */
import { Bitfield } from '../util/bitfield.js'
import { ChunkBuckets } from './chunk-buckets.js'
import { DEFAULT_ORIGIN_CONFIG } from './constants.js'
import { definedOnly } from './overrides.js'
import { randomInt, shuffle } from './rng.js'
import type { OriginConfig, OriginPolicy, OriginPolicyOptions, PeerKey, PeerMeta, Rng } from './types.js'

interface OriginPeer {
  key: PeerKey
  near: boolean
  /** Its stated link rate, bits/s (0: unknown). */
  linkBps: number
  /** Has been given a reveal (the driver reveals as soon as it adds a peer). */
  seen: boolean
  /** When it last announced a chunk it did not have (or joined). */
  gainedAt: number
  has: Bitfield
  revealed: Bitfield
  /** Revealed to it, not yet sent to it, held by no peer. */
  open: Set<number>
  /** Position in the fallback log up to which this peer has been shown everything. */
  cursor: number
  /** Full service showed it every chunk: nothing is left to reveal. */
  shownAll: boolean
  /** Chunks we sent it. */
  fromUs: Bitfield
  /**
   * It starved (starvingRevealMs without a gain), so we serve it anything
   * until it gains a chunk we did not send it: until then its holders are
   * still out of its reach, and what it got from us proves nothing.
   */
  rescued: boolean
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
  /** The chunk left the origin and is on its way (or arrived); reset if its receiver leaves without it. */
  private readonly sent: Uint8Array
  private readonly sentTo: Array<PeerKey | undefined>
  /** When each chunk was last shown to a peer. */
  private readonly shownAt: Float64Array
  /** Chunks that have left the origin at least once. */
  private readonly left: Uint8Array
  private leftCount = 0
  /** Unsent chunks no peer holds, by how many peers they are open at. */
  private readonly pool: ChunkBuckets
  private nearMissing = 0
  /** Connected peers still missing chunks. */
  private missing = 0
  /**
   * Chunks safe to show everyone after fallback, in the order they became so:
   * held by a peer (others take it from there), or lost (no holder, not in flight).
   */
  private readonly log: number[] = []
  /** When reveal() first found each logged chunk held by a peer (NaN: not yet). */
  private readonly heldSeenAt: Float64Array
  private readonly uplinkBps: number
  /** When a peer was last first revealed to. */
  private lastJoinAt = -Infinity
  /** The latest time a driver call told us (HAVEs carry none). */
  private lastNow = 0
  /** Sum of the stated link rates of the peers still pulling, and how many of them stated none. */
  private demandBps = 0
  private unstatedRates = 0
  /** Full service once granted lasts while the link still covers everyone (a host joining does not interrupt it). */
  private full = false
  /**
   * More hosts than the origin's link covers pulled at once: full service
   * stays off until every connected peer is complete, so the last hosts of a
   * large deployment do not get it (and the front-end its bytes) in the tail.
   */
  private oversubscribed = false

  constructor (opts: OriginPolicyOptions) {
    this.n = opts.chunkCount
    this.cfg = { ...DEFAULT_ORIGIN_CONFIG, ...definedOnly(opts.config) }
    this.rng = opts.rng
    this.zone = opts.zone
    this.holders = new Int32Array(this.n)
    this.openCount = new Int32Array(this.n)
    this.sent = new Uint8Array(this.n)
    this.sentTo = new Array(this.n)
    this.left = new Uint8Array(this.n)
    this.shownAt = new Float64Array(this.n)
    this.pool = new ChunkBuckets(this.n)
    this.heldSeenAt = new Float64Array(this.n).fill(NaN)
    this.uplinkBps = opts.uplinkBps ?? 0
    for (let c = 0; c < this.n; c++) this.pool.put(c, 0)
  }

  /** Every chunk has left the origin at least once. */
  get allSent (): boolean { return this.leftCount === this.n }

  addPeer (peer: PeerKey, meta: PeerMeta): void {
    if (this.peers.has(peer)) return
    const near = this.zone === undefined || meta.zone === undefined || meta.zone === this.zone
    this.peers.set(peer, {
      key: peer, near, linkBps: meta.linkBps ?? 0, seen: false, gainedAt: this.lastNow, has: new Bitfield(this.n), revealed: new Bitfield(this.n), open: new Set(), cursor: 0, shownAll: false, fromUs: new Bitfield(this.n), rescued: false
    })
    if (this.n > 0) this.pulling(this.peers.get(peer) as OriginPeer, +1)
  }

  removePeer (peer: PeerKey): void {
    const p = this.peers.get(peer)
    if (p === undefined) return
    this.peers.delete(peer)
    for (const c of p.open) this.close(c)
    for (const c of p.has.indexes()) {
      if (--this.holders[c] === 0) this.lost(c)
    }
    // Chunks sent to it that it never announced are lost too.
    for (let c = 0; c < this.n; c++) {
      if (this.sentTo[c] === peer && this.holders[c] === 0) this.lost(c)
    }
    if (!p.has.complete) this.pulling(p, -1)
  }

  onPeerHave (peer: PeerKey, chunk: number): void {
    const p = this.peers.get(peer)
    if (p === undefined || chunk < 0 || chunk >= this.n || !p.has.set(chunk)) return
    p.gainedAt = Math.max(p.gainedAt, this.lastNow)
    if (!p.fromUs.has(chunk)) p.rescued = false
    if (p.has.complete) this.pulling(p, -1)
    if (this.holders[chunk]++ === 0) this.append(chunk)
    // A chunk some peer already holds (an all-zero chunk, or one from an earlier
    // pull) is out in the swarm: it need not leave us before the fallback.
    if (this.left[chunk] === 0) {
      this.left[chunk] = 1
      this.leftCount++
    }
    this.pool.delete(chunk)
    // Someone holds it now: it no longer occupies anyone's window.
    if (this.openCount[chunk] > 0) {
      for (const q of this.peers.values()) if (q.open.delete(chunk)) this.close(chunk)
    }
  }

  onSent (peer: PeerKey, chunk: number): void {
    if (chunk < 0 || chunk >= this.n) return
    this.sent[chunk] = 1
    this.pool.delete(chunk)
    if (this.left[chunk] === 0) {
      this.left[chunk] = 1
      this.leftCount++
    }
    this.sentTo[chunk] = peer
    const p = this.peers.get(peer)
    p?.fromUs.set(chunk)
    if (p !== undefined && p.open.delete(chunk)) this.close(chunk)
  }

  fullService (peer: PeerKey, now: number): boolean {
    return this.peers.get(peer)?.near === true && this.covered(now)
  }

  serves (peer: PeerKey, chunk: number, now: number): boolean {
    if (chunk < 0 || chunk >= this.n || this.fullService(peer, now)) return true
    const r = this.cfg.redirectHolders
    if (r <= 0) return true
    // A peer that gained nothing for a while cannot reach the holders (too few
    // links, all choking it): serve it rather than let it starve.
    const p = this.peers.get(peer)
    if (p !== undefined && (this.rescue(p, now) || now - p.gainedAt >= this.cfg.starvingServeMs)) return true
    if (this.holders[chunk] >= r) return false
    // On its way to another peer, which will hold it in a moment and pass it on.
    const to = this.sentTo[chunk]
    return !(this.sent[chunk] === 1 && this.holders[chunk] === 0 && to !== undefined && to !== peer && this.peers.has(to))
  }

  /**
   * A peer starts (+1) or stops (-1) pulling: the counts of missing peers and
   * the demand on our link follow, so the full-service test, asked on every
   * reveal and request, costs nothing.
   */
  private pulling (p: OriginPeer, delta: 1 | -1): void {
    this.missing += delta
    if (p.near) this.nearMissing += delta
    if (p.linkBps > 0) this.demandBps += delta * p.linkBps
    else this.unstatedRates += delta
    if (this.missing === 0) this.oversubscribed = false
    else if (this.demandBps > this.uplinkBps) this.oversubscribed = true
  }

  /** Gained nothing for starvingRevealMs though it misses chunks: the holders are out of its reach. */
  private rescue (p: OriginPeer, now: number): boolean {
    if (!p.rescued && p.seen && now - p.gainedAt >= this.cfg.starvingRevealMs && p.has.count < this.n) p.rescued = true
    return p.rescued
  }

  /** The origin's upload covers every peer still pulling, and no peer joined within the settle time. */
  private covered (now: number): boolean {
    if (this.uplinkBps <= 0 || this.unstatedRates > 0 || this.oversubscribed) this.full = false
    else if (now - this.lastJoinAt >= this.cfg.fullServiceSettleMs) this.full = true
    return this.full
  }

  reveal (peer: PeerKey, now: number): number[] {
    const p = this.peers.get(peer)
    if (p === undefined) return []
    this.lastNow = now
    if (!p.seen) {
      p.seen = true
      p.gainedAt = now
      this.lastJoinAt = now
    }
    if (p.near && this.covered(now)) return this.revealAll(p)
    // serves() gives a starving peer what it asks; it must also know what it
    // may ask. Held chunks are otherwise never shown to it, and a host whose
    // only holder lied to it (it dropped that peer) waited for ever.
    if (this.rescue(p, now)) return this.revealAll(p)
    if (this.allSent) {
      // Far peers still get nothing from us while our zone needs chunks, even
      // after the first pass: a far host sees only its few neighbours in our
      // zone, so it asked us for most chunks our zone already held (front-end
      // 2.1 images, 962 repeats to far hosts, 899 MB N=72 with every host
      // unchoked as the daemon does). They cross once, through our zone.
      // Chunks no peer holds are still shown to them, so a stalled zone of
      // ours cannot keep a chunk from them.
      if (!p.near && this.nearMissing > 0 && this.cfg.farRevealWindow === 0) return this.revealOrphans(p)
      return this.revealLogged(p, now)
    }
    const full = p.near || this.nearMissing === 0 ? this.cfg.revealWindow : this.cfg.farRevealWindow
    // Fresh chunks are shared out among the peers still missing chunks, so the
    // first pass seeds as many hosts as possible: with 24 hosts and 64 chunks a
    // window of 8 gave all of them to 8 hosts and the other 16 waited seconds
    // for their first chunk, uploading nothing meanwhile.
    const share = Math.ceil(this.pool.bucket(0).length / Math.max(1, this.missing))
    const window = Math.min(full, Math.max(1, share, p.open.size === 0 ? 1 : 0))
    const out: number[] = []
    while (p.open.size < window) {
      // Fresh chunks (shown to nobody) fill the window. A chunk already shown
      // to someone else is shown again only when that peer has sat on it for
      // staleRevealMs without asking (it is stuck), and only to an idle peer.
      const c = this.choose(p, p.open.size === 0 ? now - this.cfg.staleRevealMs : -Infinity)
      if (c < 0) break
      if (this.openCount[c] === 0) this.shownAt[c] = now
      p.revealed.set(c)
      p.open.add(c)
      this.openCount[c]++
      this.pool.put(c, this.openCount[c])
      out.push(c)
    }
    return out
  }

  /**
   * The least-shown unsent chunk not yet revealed to this peer, at random
   * among equals; a chunk shown to others only if first shown before `staleBefore`.
   */
  private choose (p: OriginPeer, staleBefore: number): number {
    const fresh = this.pool.bucket(0)
    if (fresh.length > 0) {
      let i = randomInt(this.rng, fresh.length)
      for (let k = 0; k < fresh.length; k++, i++) {
        if (i >= fresh.length) i = 0
        if (!p.revealed.has(fresh[i])) return fresh[i]
      }
    }
    if (staleBefore === -Infinity) return -1
    // A chunk open at `lvl` peers goes to one more only after lvl stale
    // periods: each stuck chunk gets a second peer at once, but idle peers no
    // longer all get the same one (the front-end sent one chunk up to 11
    // times in a 64 MiB, 24-host swarm).
    for (let lvl = 1; lvl < this.pool.levels; lvl++) {
      const before = staleBefore - (lvl - 1) * this.cfg.staleRevealMs
      for (const c of this.pool.bucket(lvl)) {
        if (this.shownAt[c] <= before && !p.revealed.has(c)) return c
      }
    }
    return -1
  }

  /**
   * Fallback: everything held elsewhere or lost that this peer has not been
   * shown, rarest first. Chunks still in flight from us are held back, or
   * every host would ask us for them while they travel.
   *
   * A chunk a peer holds is shown only heldRevealDelayMs after we first saw
   * it held: the holder's HAVE to the others travels behind the chunk data
   * already queued on its links (0.5-1 MB per socket, a second at the shared
   * rate, in the 16-host cluster), while our reveal arrives at once; without
   * the delay, hosts asked us for 0.7 images' worth of chunks their peers
   * already held. A chunk no peer holds is shown at once.
   */
  private revealLogged (p: OriginPeer, now: number): number[] {
    if (p.cursor >= this.log.length) return []
    const out: number[] = []
    const due = now - this.cfg.heldRevealDelayMs
    const redirect = this.cfg.redirectHolders
    let waiting = false
    for (let i = p.cursor; i < this.log.length; i++) {
      const c = this.log[i]
      if (p.revealed.has(c) || p.has.has(c)) {
        if (!waiting) p.cursor = i + 1
        continue
      }
      if (this.holders[c] > 0) {
        // We would refuse it (see serves); if its holders leave, it is logged again as lost.
        if (redirect > 0 && this.holders[c] >= redirect) {
          if (!waiting) p.cursor = i + 1
          continue
        }
        if (Number.isNaN(this.heldSeenAt[c])) this.heldSeenAt[c] = now
        if (this.heldSeenAt[c] > due) { waiting = true; continue }
      }
      p.revealed.set(c)
      out.push(c)
      if (!waiting) p.cursor = i + 1
    }
    return this.closeWindow(p, out)
  }

  /** Full service: every chunk the peer lacks and was not shown, rarest first. */
  private revealAll (p: OriginPeer): number[] {
    // Asked on every tick and after every chunk sent: scan the image once per peer.
    if (p.shownAll) return []
    p.shownAll = true
    const out: number[] = []
    for (let c = 0; c < this.n; c++) {
      if (p.revealed.has(c) || p.has.has(c)) continue
      p.revealed.set(c)
      out.push(c)
    }
    return this.closeWindow(p, out)
  }

  /** The window is no longer needed once a peer is shown everything: close it, and order `out` rarest first. */
  private closeWindow (p: OriginPeer, out: number[]): number[] {
    for (const c of p.open) this.close(c)
    p.open.clear()
    shuffle(out, this.rng)
    const h = this.holders
    out.sort((a, b) => h[a] - h[b])
    return out
  }

  /** Logged chunks no connected peer holds (lost, or never announced), without moving the cursor. */
  private revealOrphans (p: OriginPeer): number[] {
    const out: number[] = []
    for (let i = p.cursor; i < this.log.length; i++) {
      const c = this.log[i]
      if (this.holders[c] === 0 && this.sent[c] === 0 && !p.revealed.has(c) && !p.has.has(c)) {
        p.revealed.set(c)
        out.push(c)
      }
    }
    return out
  }

  /** A chunk with no holder and no transfer under way: back to the pool, and safe to show anyone. */
  private lost (c: number): void {
    this.sent[c] = 0
    this.sentTo[c] = undefined
    this.pool.put(c, this.openCount[c])
    this.append(c)
  }

  private append (c: number): void {
    this.log.push(c)
  }

  private close (c: number): void {
    this.openCount[c]--
    if (this.pool.has(c)) this.pool.put(c, this.openCount[c])
  }
}

/**
 * Upload slots as a function over plain peer snapshots: `uploadSlots` regular
 * unchokes by tit-for-tat (the rate each peer gives us) while leeching, or by
 * the rate each takes from us while seeding, plus one optimistic unchoke
 * rotated every `optimisticEvery` rechokes among choked interested peers,
 * in-zone ones first. No clock, no sockets: the driver calls rechoke on its
 * timer (config.rechokeIntervalMs) and applies the decision.
 */
import { DEFAULT_CHOKER_CONFIG, ORIGIN_CHOKER_CONFIG } from './constants.js'
import { definedOnly } from './overrides.js'
import { randomInt, seededRng, shuffle } from './rng.js'
import type { ChokeDecision, Choker, ChokerConfig, ChokerOptions, PeerKey, Rng, UploadPeerStats } from './types.js'

export function createChoker (config?: Partial<ChokerConfig>, opts: ChokerOptions = {}): Choker {
  const cfg: Required<ChokerConfig> = { ...DEFAULT_CHOKER_CONFIG, ...definedOnly(config) }
  if (!(cfg.uploadSlots >= 0) || !(cfg.optimisticEvery >= 1)) throw new RangeError('uploadSlots must be >= 0 and optimisticEvery >= 1')
  return new TitForTatChoker(cfg, opts.rng ?? seededRng(0x5eed), opts.zone)
}

/**
 * The front-end's choker: every peer unchoked, interested or not, so a host
 * may ask the moment a chunk is revealed to it (ORIGIN_CHOKER_CONFIG says why).
 */
export function createOriginChoker (config?: Partial<ChokerConfig>): Choker {
  const cfg: Required<ChokerConfig> = { ...DEFAULT_CHOKER_CONFIG, ...definedOnly(config), ...ORIGIN_CHOKER_CONFIG }
  return {
    config: cfg,
    rechoke: (peers) => ({ unchoked: peers.map(p => p.peer) })
  }
}

class TitForTatChoker implements Choker {
  private round = 0
  private optimistic?: PeerKey
  private farPicks: PeerKey[] = []

  constructor (readonly config: Required<ChokerConfig>, private readonly rng: Rng, private readonly zone?: string) {}

  rechoke (peers: UploadPeerStats[], seeding: boolean, _now: number): ChokeDecision {
    const interested = shuffle(peers.filter(p => p.interested), this.rng)
    const rate = seeding ? (p: UploadPeerStats) => p.uploadRate : (p: UploadPeerStats) => p.downloadRate
    // Stable sort over a shuffled list: equal peers end up in random order.
    // A peer we unchoked that took nothing from us for a whole interval holds
    // a slot it does not use (it wants nothing we can send, or is fed
    // elsewhere): it goes behind the peers waiting for one. In the tail of an
    // 899 MB, 72-host swarm such slots kept hosts that lacked their last
    // chunks choked by every holder for 2-4 s.
    const idle = (p: UploadPeerStats): number => Number(p.unchoked && p.uploadRate === 0 && rate(p) === 0)
    interested.sort((a, b) =>
      (rate(b) - rate(a)) ||
      (idle(a) - idle(b)) ||
      (Number(b.unchoked) - Number(a.unchoked)) ||
      (this.zoneRank(a) - this.zoneRank(b)) ||
      (((a.rttMs ?? Infinity) - (b.rttMs ?? Infinity)) || 0))
    const regular = interested.slice(0, this.config.uploadSlots)
    const chosen = new Set(regular.map(p => p.peer))

    const rotate = this.round % this.config.optimisticEvery === 0
    this.round++
    const current = interested.find(p => p.peer === this.optimistic)
    if (rotate || current === undefined || chosen.has(current.peer)) {
      const pool = interested.filter(p => !chosen.has(p.peer))
      // Rotate away from the current one when anyone else is waiting.
      const others = pool.length > 1 ? pool.filter(p => p.peer !== this.optimistic) : pool
      const choked = others.filter(p => !p.unchoked || p.peer === this.optimistic)
      const base = choked.length > 0 ? choked : others
      const near = base.filter(p => this.zoneRank(p) === 0)
      const from = starvedFirst(near.length > 0 ? near : base)
      this.optimistic = from.length > 0 ? from[randomInt(this.rng, from.length)].peer : undefined
    }
    const unchoked = regular.map(p => p.peer)
    if (this.optimistic !== undefined) unchoked.push(this.optimistic)
    this.keepFarSlots(interested, unchoked, rotate)
    this.keepIdleSlots(peers, unchoked)
    return { unchoked, optimistic: this.optimistic }
  }

  /**
   * A slot is worth taking back only for an interested peer that needs it:
   * an unchoked peer that shows no interest keeps its slot while slots are
   * free. Its INTERESTED can trail its requests by a second or more, queued
   * behind chunk data on a busy link; choked for want of it, the peer gave
   * those requests up, asked again at the next unchoke and got each chunk
   * twice (bench/cluster/FINDINGS.md session 17 B).
   */
  private keepIdleSlots (peers: UploadPeerStats[], unchoked: PeerKey[]): void {
    let free = this.config.uploadSlots + 1 - unchoked.length
    if (free <= 0) return
    const chosen = new Set(unchoked)
    for (const p of peers) {
      if (free <= 0) break
      if (p.unchoked && !p.interested && !chosen.has(p.peer)) {
        unchoked.push(p.peer)
        free--
      }
    }
  }

  /** Make sure `farSlots` peers of other zones are among the unchoked, when any is interested. */
  private keepFarSlots (interested: UploadPeerStats[], unchoked: PeerKey[], rotate: boolean): void {
    const slots = this.zone === undefined ? 0 : this.config.farSlots
    if (slots <= 0) { this.farPicks = []; return }
    const far = interested.filter(p => this.zoneRank(p) === 1)
    let have = far.filter(p => unchoked.includes(p.peer)).length
    const farKeys = new Set(far.map(p => p.peer))
    const keep = rotate && far.length > slots ? [] : this.farPicks.filter(k => farKeys.has(k) && !unchoked.includes(k))
    const picks: PeerKey[] = []
    for (const k of keep) {
      if (have >= slots) break
      picks.push(k)
      have++
    }
    const pool = far.filter(p => !unchoked.includes(p.peer) && !picks.includes(p.peer) && !(rotate && this.farPicks.includes(p.peer) && far.length > slots))
    while (have < slots && pool.length > 0) {
      picks.push(pool.splice(randomInt(this.rng, pool.length), 1)[0].peer)
      have++
    }
    this.farPicks = picks
    unchoked.push(...picks)
  }

  /** 0 for our zone (or unknown), 1 for another zone. */
  private zoneRank (p: UploadPeerStats): number {
    return this.zone !== undefined && p.zone !== undefined && p.zone !== this.zone ? 1 : 0
  }
}

/**
 * The optimistic slot goes to a peer holding least (random among equals):
 * tit-for-tat never keeps a host that has nothing to give, so a host that
 * started badly stays starved. BitTorrent makes new peers three times as
 * likely for the same reason. In the simulator (paper testbed, 9.77 GB, 72
 * hosts, seed 2) one such host lost ~12 s in its first 15 s and set the makespan.
 */
function starvedFirst (peers: UploadPeerStats[]): UploadPeerStats[] {
  let least = Infinity
  for (const p of peers) if (p.haveCount !== undefined && p.haveCount < least) least = p.haveCount
  return least === Infinity ? peers : peers.filter(p => p.haveCount === least)
}

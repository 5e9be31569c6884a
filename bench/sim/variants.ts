/**
 * Experimental wrappers around the real policy, to measure what a proposed
 * rule change would buy before the policy engineer makes it. Nothing here is
 * used by `imgp2p simulate`; results go to FINDINGS.md.
 */
import type { Choker, UploadPeerStats } from '../../src/policy/types.js'
import type { PolicyKit } from '../../src/sim/kit.js'
import type { Scenario } from '../../src/sim/scenario.js'
import { swarmKit } from '../../src/sim/swarm-kit.js'
import { zoneName } from '../../src/sim/engine.js'

export type Variant = 'none' | 'choker-zone-blind' | 'far-slot' | 'starved-optimistic' | 'behind-first' | 'unchoke-all' | 'seed-behind-first' | 'feed-laggards' | 'feed-underfed'

export function variantKit (s: Scenario, v: Variant): PolicyKit {
  const base = swarmKit(s)
  if (v === 'none') return base
  return {
    ...base,
    choker: (host, rng) => {
      const inner = base.choker(host, rng)
      if (v === 'choker-zone-blind') return zoneBlind(inner)
      if (v === 'starved-optimistic') return starvedOptimistic(inner)
      if (v === 'behind-first') return behindFirst(inner)
      if (v === 'seed-behind-first') return seedBehindFirst(inner)
      if (v === 'feed-underfed') return feedUnderfed(inner, zoneName(host < 0 ? s.frontEndZone : s.zoneOf[host]))
      if (v === 'feed-laggards') return feedLaggards(inner, Math.ceil(s.imageBytes / s.chunkBytes), zoneName(host < 0 ? s.frontEndZone : s.zoneOf[host]))
      if (v === 'unchoke-all') return { config: inner.config, rechoke: (peers) => ({ unchoked: peers.filter(p => p.interested).map(p => p.peer) }) }
      return farSlot(inner, zoneName(host < 0 ? s.frontEndZone : s.zoneOf[host]))
    }
  }
}

/** The choker sees no zones: its optimistic slot no longer prefers in-zone peers. */
function zoneBlind (inner: Choker): Choker {
  return {
    config: inner.config,
    rechoke: (peers, seeding, now) => inner.rechoke(peers.map(p => ({ ...p, zone: undefined })), seeding, now)
  }
}

/**
 * One extra slot held for an interested peer of another zone (the one that
 * took most from us, else a random one), so far zones are fed across the
 * boundary even when tit-for-tat and the in-zone optimistic never pick them.
 */
function farSlot (inner: Choker, zone: string): Choker {
  let pickIdx = 0
  return {
    config: inner.config,
    rechoke: (peers: UploadPeerStats[], seeding, now) => {
      const d = inner.rechoke(peers, seeding, now)
      const chosen = new Set(d.unchoked)
      const far = peers.filter(p => p.interested && p.zone !== undefined && p.zone !== zone)
      if (far.length > 0 && !far.some(p => chosen.has(p.peer))) {
        far.sort((a, b) => b.uploadRate - a.uploadRate)
        const best = far[0].uploadRate > 0 ? far[0] : far[(pickIdx++) % far.length]
        return { ...d, unchoked: [...d.unchoked, best.peer] }
      }
      return d
    }
  }
}

/**
 * The optimistic slot goes to the interested peer that holds the fewest
 * chunks (the engine adds `haveCount` to each snapshot), instead of a random
 * one: a host that starts late or was passed over gets fed first.
 */
function starvedOptimistic (inner: Choker): Choker {
  return {
    config: inner.config,
    rechoke: (peers, seeding, now) => {
      const d = inner.rechoke(peers, seeding, now)
      if (d.optimistic === undefined) return d
      const regular = new Set(d.unchoked.filter(p => p !== d.optimistic))
      const count = (p: UploadPeerStats): number => (p as UploadPeerStats & { haveCount?: number }).haveCount ?? 0
      let best: UploadPeerStats | undefined
      for (const p of peers) if (p.interested && !regular.has(p.peer) && (best === undefined || count(p) < count(best))) best = p
      if (best === undefined) return d
      return { unchoked: [...regular, best.peer], optimistic: best.peer }
    }
  }
}

/**
 * All slots (regular and optimistic) to the interested peers holding the
 * fewest chunks, instead of tit-for-tat: feed the laggards (FINDINGS.md 8:
 * slower; `unchoke-all` is no choking at all).
 */
function behindFirst (inner: Choker): Choker {
  return {
    config: inner.config,
    rechoke: (peers, seeding, now) => {
      const count = (p: UploadPeerStats): number => (p as UploadPeerStats & { haveCount?: number }).haveCount ?? 0
      const sorted = peers.filter(p => p.interested).sort((a, b) => count(a) - count(b))
      return { unchoked: sorted.slice(0, inner.config.uploadSlots + 1).map(p => p.peer) }
    }
  }
}

/** behind-first for a host that holds the whole image, tit-for-tat while it pulls. */
function seedBehindFirst (inner: Choker): Choker {
  const seed = behindFirst(inner)
  return { config: inner.config, rechoke: (peers, seeding, now) => (seeding ? seed : inner).rechoke(peers, seeding, now) }
}

/**
 * Tit-for-tat, then each interested peer of our zone that lags the zone's
 * median by more than 0.75 x sqrt(chunks) chunks (how far apart peers that
 * are doing fine drift) takes the unchoke of the zone's peer holding most
 * (FINDINGS.md 10).
 */
function feedLaggards (inner: Choker, chunks: number, zone: string): Choker {
  const margin = 0.75 * Math.sqrt(chunks)
  return {
    config: inner.config,
    rechoke: (peers, seeding, now) => {
      const d = inner.rechoke(peers, seeding, now)
      const count = (p: UploadPeerStats): number => p.haveCount ?? 0
      const near = peers.filter(p => p.interested && (p.zone === undefined || p.zone === zone))
      if (near.length < 3) return d
      const median = near.map(count).sort((a, b) => a - b)[near.length >> 1]
      const laggards = new Set(near.filter(p => count(p) < median - margin).map(p => p.peer))
      if (laggards.size === 0) return d
      const nearKeys = new Set(near.map(p => p.peer))
      const held = new Map(peers.map(p => [p.peer, count(p)]))
      const leaders = d.unchoked.filter(k => nearKeys.has(k) && !laggards.has(k)).sort((a, b) => (held.get(b) ?? 0) - (held.get(a) ?? 0))
      const drop = new Set(leaders.slice(0, laggards.size))
      const unchoked = d.unchoked.filter(k => !drop.has(k))
      for (const k of laggards) if (!unchoked.includes(k)) unchoked.push(k)
      return { ...d, unchoked }
    }
  }
}

/**
 * Tit-for-tat, then each interested peer of our zone that says it is
 * underfed (its download below 95 % of its link, by its own measure; the
 * engine's judgeFed) takes the unchoke of the zone's fed peer holding most.
 * Only while the underfed are at most a quarter of those interested: when
 * more are, chunks are short, not shares (with half: worse everywhere).
 * FINDINGS.md 11: helps the paper's 72 hosts, hurts 16-24 (not adopted).
 */
function feedUnderfed (inner: Choker, zone: string): Choker {
  return {
    config: inner.config,
    rechoke: (peers, seeding, now) => {
      const d = inner.rechoke(peers, seeding, now)
      type Stats = UploadPeerStats & { underfed?: boolean }
      const near = (peers as Stats[]).filter(p => p.interested && (p.zone === undefined || p.zone === zone))
      const hungry = near.filter(p => p.underfed === true)
      if (hungry.length === 0 || 4 * hungry.length > near.length) return d
      const hungryKeys = new Set(hungry.map(p => p.peer))
      const nearKeys = new Set(near.map(p => p.peer))
      const held = new Map(peers.map(p => [p.peer, p.haveCount ?? 0]))
      const fed = d.unchoked.filter(k => nearKeys.has(k) && !hungryKeys.has(k) && k !== d.optimistic)
        .sort((a, b) => (held.get(b) ?? 0) - (held.get(a) ?? 0))
      const drop = new Set(fed.slice(0, hungry.length))
      const unchoked = d.unchoked.filter(k => !drop.has(k))
      for (const k of hungryKeys) if (!unchoked.includes(k)) unchoked.push(k)
      return { ...d, unchoked }
    }
  }
}

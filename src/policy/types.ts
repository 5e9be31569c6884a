/**
 * The contract between the swarm policy (pure: no I/O, no timers, no Date.now,
 * no Math.random) and whoever drives it: the daemon in src/node, and the
 * simulator. Time comes in as `now` (milliseconds, any epoch, monotonic) and
 * randomness as an injected `Rng`, so the same objects run against a real or a
 * simulated clock and every run is reproducible from a seed.
 *
 * Drivers apply I/O results synchronously as events, then ask for decisions.
 */
import type { Bitfield } from '../util/bitfield.js'
import type { DuplicateCounts } from './duplicate-ledger.js'
export type { DuplicateCounts }

/** Returns a float in [0, 1). */
export type Rng = () => number

/** Opaque peer identity (a libp2p peer id string in the daemon, a host name in the simulator). */
export type PeerKey = string

export interface PeerMeta {
  /** Topology label (rack, switch); peers in our own zone are preferred. */
  zone?: string
  /** Measured round trip in ms, if known. */
  rttMs?: number
  /** The peer runs in origin mode (the front-end). */
  origin?: boolean
  /** The peer's network link rate in bits/s, as its operator stated it (unknown if absent). */
  linkBps?: number
  /** An origin that said FULL_SERVICE: its link covers every host pulling, ours included. */
  fullService?: boolean
}

export interface ChunkRequest {
  peer: PeerKey
  chunk: number
}

export interface DownloadPolicyOptions {
  chunkCount: number
  /** Bytes per chunk (the last chunk may be shorter; this is the nominal size). */
  chunkBytes: number
  /** Chunks already verified locally (and chunks never to fetch, e.g. all-zero ones). */
  have: Bitfield
  /** Our own zone label. */
  zone?: string
  /**
   * Our own peer key. With `zone`, it lets the hosts of one zone split the
   * chunks among themselves for cross-zone fetching (each chunk is fetched
   * across the boundary by one member, then spread inside the zone).
   */
  self?: PeerKey
  rng: Rng
  config?: Partial<DownloadConfig>
}

export interface DownloadConfig {
  /** How many first chunks are picked at random rather than rarest first. */
  randomFirstPicks: number
  /** Per-peer pipeline bounds, in requests. */
  minPipeline: number
  maxPipeline: number
  /** A request unanswered for this long (ms), scaled by the measured rate, is re-issued elsewhere. */
  requestTimeoutMs: number
  /**
   * Enter end game when no unrequested chunk is left and at most
   * min(endGameThreshold, max(2, ceil(endGameFraction x chunkCount))) remain outstanding.
   */
  endGameThreshold: number
  /** The end-game threshold as a fraction of the image's chunks (see endGameThreshold). */
  endGameFraction?: number
  /** Corrupt chunks from one peer before it is dropped. */
  maxCorruptPerPeer: number
  /** Pipeline depth before a rate has been measured. */
  initialPipeline?: number
  /** Data (in ms at the measured rate) kept queued at a peer beyond one round trip. */
  pipelineQueueMs?: number
  /** A request expires after max(requestTimeoutMs, timeoutFactor x (queue position + 1) x chunk time). */
  timeoutFactor?: number
  /** End game: at most this many peers asked for one chunk at once. */
  endGameMaxRequests?: number
  /**
   * A chunk that no zone member holds and that another member owns (see
   * `self`) may be fetched across zones by anyone once it has been on offer
   * there this long (ms): covers an owner that is slow, choked or gone.
   */
  crossZoneGraceMs?: number
  /** The grace is at least this many chunk times at the median rate peers deliver to us. */
  crossZoneGraceChunks?: number
  /** Treat new peers as choking us until onChoke(peer, false) (protocols that start choked). */
  peersStartChoked?: boolean
  /** Bucket entries examined per pick before falling back to a scan of the peer's bitfield. */
  scanBudget?: number
  /**
   * A host with nothing outstanding and nothing it may ask of anyone for this
   * long (ms) is starved: every near holder of what it lacks chokes it. It
   * then asks unchoked peers of other zones (and the origin) for a pipeline
   * of anything they hold, instead of waiting for a rechoke.
   */
  starveMs?: number
  /** Our own download link in bits/s, as the operator stated it (0: unknown). */
  downlinkBps?: number
}

/**
 * One image's download state at one host: piece picking, per-peer request
 * pipelines, end game and bad-peer scoring.
 */
export interface DownloadPolicy {
  readonly chunkCount: number
  /** Chunks verified locally. The policy owns this bitfield; drivers read it. */
  readonly have: Bitfield
  readonly done: boolean
  /** The full-service origin we take everything from right now, if any (for logs). */
  readonly feederPeer?: PeerKey

  addPeer (peer: PeerKey, meta: PeerMeta, now: number): void
  updatePeer (peer: PeerKey, meta: PeerMeta): void
  /** The peer is gone: its outstanding requests become pickable again. */
  removePeer (peer: PeerKey, now: number): void

  /** The peer's full availability (first message on a trade stream). */
  onBitfield (peer: PeerKey, have: Bitfield): void
  /** The peer gained one chunk. */
  onHave (peer: PeerKey, chunk: number): void
  /** The peer choked or unchoked us; choking drops our outstanding requests to it. */
  onChoke (peer: PeerKey, choked: boolean, now: number): void

  /**
   * A requested chunk's bytes arrived from `peer` and are being verified: its
   * request is answered, so neither a choke, nor its deadline, nor end game
   * may send it elsewhere meanwhile. onReceived or onCorrupt follows.
   */
  onArrived (peer: PeerKey, chunk: number): void
  /**
   * A chunk arrived from `peer` and matched its CID. Returns requests for the
   * same chunk outstanding at other peers (end game) that the driver should cancel.
   */
  onReceived (peer: PeerKey, chunk: number, bytes: number, now: number): ChunkRequest[]
  /** A copy of a chunk we already held (or were writing) arrived: charged to why it was asked twice. */
  onDuplicate (chunk: number): void
  /** Duplicates so far, by what made us ask a second peer. */
  duplicates (): DuplicateCounts
  /** The chunk from `peer` failed verification. `drop` says to disconnect that peer. */
  onCorrupt (peer: PeerKey, chunk: number, now: number): { drop: boolean }
  /** The peer declined a request (choked us meanwhile, or lacks the chunk). */
  onRejected (peer: PeerKey, chunk: number, now: number): void

  /**
   * New requests to send now, booked as outstanding. Call after any event and
   * on a timer; returns [] when every pipeline is full or nothing is wanted.
   * `limit` bounds how many (a download cap's budget); what it holds back is
   * picked on a later call, as if the pipelines were full.
   */
  pick (now: number, limit?: number): ChunkRequest[]
  /** Requests that timed out; they are released (pickable elsewhere) and should be cancelled on the wire. */
  expire (now: number): ChunkRequest[]
  /** Whether the peer has anything we still lack (drives INTERESTED/NOT_INTERESTED). */
  isInterested (peer: PeerKey): boolean
  /** Requests outstanding right now, for status displays. */
  outstanding (): ChunkRequest[]
}

/** What the uploader knows about one connected peer, as a plain snapshot. */
export interface UploadPeerStats {
  peer: PeerKey
  /** The peer wants something we have. */
  interested: boolean
  /** Bytes/s we received from this peer recently (tit-for-tat). */
  downloadRate: number
  /** Bytes/s this peer took from us recently (seed mode). */
  uploadRate: number
  /** Currently unchoked by us. */
  unchoked: boolean
  /** Chunks the peer holds, if known: the optimistic unchoke favours those holding least. */
  haveCount?: number
  zone?: string
  rttMs?: number
}

export interface ChokerConfig {
  uploadSlots: number
  rechokeIntervalMs: number
  /** Rotate the optimistic unchoke every this many rechokes. */
  optimisticEvery: number
  /**
   * With a zone: at least this many unchoked peers from other zones when any
   * is interested (rotated like the optimistic slot). Tit-for-tat alone never
   * serves them: they take only chunks their zone lacks, so they rarely have
   * anything to give back, and their zone would starve until we seed.
   */
  farSlots?: number
}

export interface ChokeDecision {
  /** Peers to be unchoked after this round (the full set, not a delta). */
  unchoked: PeerKey[]
  optimistic?: PeerKey
}

export interface ChokerOptions {
  /** Our own zone label: in-zone peers are preferred for the optimistic slot and on ties. */
  zone?: string
  /** Randomness for tie-breaks and the optimistic slot; defaults to a fixed seed. */
  rng?: Rng
}

export interface Choker {
  readonly config: ChokerConfig
  /**
   * Decide the unchoked set. `seeding` is true when we hold the whole image
   * (then rank by uploadRate, otherwise by downloadRate).
   */
  rechoke (peers: UploadPeerStats[], seeding: boolean, now: number): ChokeDecision
}

export interface OriginPolicyOptions {
  chunkCount: number
  /** The origin's zone label: while peers of this zone are still missing chunks, new chunks are revealed to them first. */
  zone?: string
  rng: Rng
  config?: Partial<OriginConfig>
  /** The origin's own upload rate in bits/s, if its operator stated it; without it there is no full service. */
  uplinkBps?: number
}

export interface OriginConfig {
  /** Revealed chunks a peer may hold unsent at once (must cover its request pipeline). */
  revealWindow: number
  /**
   * The same for peers outside the origin's zone while peers inside it still
   * miss chunks (afterwards they get revealWindow too).
   */
  farRevealWindow?: number
  /**
   * A chunk shown to a peer that has not asked for it within this many ms is
   * shown to another idle peer too (the first one may be stuck).
   */
  staleRevealMs?: number
  /**
   * After the first pass, a chunk some peer holds is revealed to the others
   * only this long after the origin first saw it held, so the holder's HAVE
   * reaches them first and they fetch it there.
   */
  heldRevealDelayMs?: number
  /**
   * Full service (everything revealed, the origin traded with like any peer)
   * starts only once no peer has joined for this long, so the first few
   * hosts of a large deployment do not get it before the rest arrive.
   */
  fullServiceSettleMs?: number
  /**
   * A chunk at least this many connected peers hold, or one on its way to
   * another peer, is refused (REJECT) to a peer without full service: it is
   * out in the swarm, and the peer that asked has not heard of a holder yet.
   * Such chunks are not revealed after the first pass either. 0 serves every
   * request (and reveals held chunks after heldRevealDelayMs).
   */
  redirectHolders?: number
  /** A peer that announced no new chunk for this long is served whatever it asks (it cannot reach the holders). */
  starvingServeMs?: number
  /**
   * A peer that announced no new chunk for this long is shown every chunk it
   * lacks, held or not, and served until it gains one from someone else.
   */
  starvingRevealMs?: number
}

/**
 * Origin mode (the front-end): decides which chunks to reveal to which peer
 * so that each chunk leaves the origin as few times as possible until every
 * chunk has left it once. Peers only request what was revealed to them.
 */
export interface OriginPolicy {
  addPeer (peer: PeerKey, meta: PeerMeta): void
  removePeer (peer: PeerKey): void
  /** The peer announced it has this chunk (it got it from anyone). */
  onPeerHave (peer: PeerKey, chunk: number): void
  /** We sent this chunk to the peer. */
  onSent (peer: PeerKey, chunk: number): void
  /** Chunks to announce to the peer now (the driver sends HAVE for each); booked as revealed. */
  reveal (peer: PeerKey, now: number): number[]
  /** True once every chunk has left the origin at least once (then everything is revealed). */
  readonly allSent?: boolean
  /**
   * Whether this peer gets full service: it is in the origin's zone, and the
   * origin's upload covers every peer still pulling at its full link rate
   * (both stated by operators). Then the origin serves it like any seed:
   * everything is revealed and it should treat the origin as an ordinary
   * peer, not as the last resort. Other zones never get it: their chunks
   * would cross the zone boundary once per host.
   */
  fullService (peer: PeerKey, now: number): boolean
  /** Whether to serve this request (see redirectHolders); false: answer REJECT. */
  serves (peer: PeerKey, chunk: number, now: number): boolean
}

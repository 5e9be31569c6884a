/**
 * Trivial policies with closed-form makespans, to validate the engine:
 * every host fetches chunks in order from one fixed source with a fixed
 * pipeline, and every node unchokes every interested peer.
 * - unicast: the source is the front-end for every host.
 * - chain: host i fetches from host i-1, host 0 from the front-end.
 */
import { Bitfield } from '../util/bitfield.js'
import type {
  ChokeDecision, Choker, ChokerConfig, ChunkRequest, DownloadPolicy, DownloadPolicyOptions, PeerKey, UploadPeerStats
} from '../policy/types.js'
import { type DuplicateCounts, DuplicateLedger } from '../policy/duplicate-ledger.js'
import type { PolicyKit } from './kit.js'

export const ORIGIN_KEY = 'origin'
export const hostKey = (i: number): string => `h${i}`

export class SequentialDownload implements DownloadPolicy {
  readonly chunkCount: number
  readonly have: Bitfield
  private source: PeerKey
  private sourceHave: Bitfield
  private choked = true
  private next = 0
  private inFlight = 0
  private readonly dupes: DuplicateLedger

  constructor (opts: DownloadPolicyOptions, source: PeerKey, private readonly depth = 4) {
    this.chunkCount = opts.chunkCount
    this.have = opts.have
    this.source = source
    this.sourceHave = new Bitfield(opts.chunkCount)
    this.dupes = new DuplicateLedger(opts.chunkCount)
  }

  get done (): boolean { return this.have.complete }
  addPeer (): void {}
  updatePeer (): void {}
  removePeer (): void {}
  onBitfield (peer: PeerKey, have: Bitfield): void { if (peer === this.source) this.sourceHave = have.clone() }
  onHave (peer: PeerKey, chunk: number): void { if (peer === this.source) this.sourceHave.set(chunk) }
  onChoke (peer: PeerKey, choked: boolean): void {
    if (peer !== this.source) return
    this.choked = choked
    if (choked) { this.inFlight = 0; this.next = this.firstMissing() }
  }

  onReceived (_peer: PeerKey, chunk: number): ChunkRequest[] {
    if (this.have.set(chunk)) this.inFlight = Math.max(0, this.inFlight - 1)
    return []
  }

  onCorrupt (): { drop: boolean } { return { drop: false } }
  onRejected (): void { this.inFlight = 0; this.next = this.firstMissing() }
  // One source, one request per chunk: a copy has no reissue to charge.
  onDuplicate (chunk: number): void { this.dupes.charge(chunk) }
  /** Verification is instant in the simulator: nothing to hold. */
  onArrived (): void {}
  duplicates (): DuplicateCounts { return this.dupes.snapshot() }

  pick (): ChunkRequest[] {
    const out: ChunkRequest[] = []
    while (!this.choked && this.inFlight < this.depth && this.next < this.chunkCount && this.sourceHave.has(this.next)) {
      if (!this.have.has(this.next)) { out.push({ peer: this.source, chunk: this.next }); this.inFlight++ }
      this.next++
    }
    return out
  }

  expire (): ChunkRequest[] { return [] }
  isInterested (peer: PeerKey): boolean { return peer === this.source && !this.done }
  outstanding (): ChunkRequest[] { return [] }

  private firstMissing (): number {
    let i = 0
    while (i < this.chunkCount && this.have.has(i)) i++
    return i
  }
}

/** Unchoke every interested peer. */
export class UnchokeAll implements Choker {
  readonly config: ChokerConfig = { uploadSlots: Number.MAX_SAFE_INTEGER, rechokeIntervalMs: 10_000, optimisticEvery: 3 }
  rechoke (peers: UploadPeerStats[]): ChokeDecision {
    return { unchoked: peers.filter(p => p.interested).map(p => p.peer) }
  }
}

export function baselineKit (kind: 'unicast' | 'chain', depth = 4): PolicyKit {
  return {
    graph: kind === 'chain' ? 'chain' : 'none',
    download: (opts, host) => new SequentialDownload(opts, kind === 'chain' && host > 0 ? hostKey(host - 1) : ORIGIN_KEY, depth),
    choker: () => new UnchokeAll(),
    origin: () => undefined
  }
}

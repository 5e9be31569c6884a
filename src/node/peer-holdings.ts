/**
 * What each peer trading one image holds, as far as its HELLOs and HAVEs
 * told us, and which of two links to one peer a host keeps.
 */
import { Bitfield } from '../util/bitfield.js'

/**
 * Kept per peer, not per link: when two crossing streams are resolved, HAVEs
 * that came on the closed one are not sent again on the survivor.
 */
export class PeerHoldings {
  private readonly byPeer = new Map<string, Bitfield>()
  private readonly chunkCount: number

  constructor (chunkCount: number) {
    this.chunkCount = chunkCount
  }

  /** The peer's known chunks, empty for a peer not heard of yet. */
  of (peer: string): Bitfield {
    let bf = this.byPeer.get(peer)
    if (bf == null) { bf = new Bitfield(this.chunkCount); this.byPeer.set(peer, bf) }
    return bf
  }

  countOf (peer: string): number {
    return this.byPeer.get(peer)?.count ?? 0
  }

  /** Adds what a HELLO's bitfield shows (one of another image's length is ignored); returns all we know. */
  addHello (peer: string, have: Uint8Array | null | undefined): Bitfield {
    const known = this.of(peer)
    if (have != null && have.length === known.bytes.length) {
      for (const i of new Bitfield(this.chunkCount, have).indexes()) known.set(i)
    }
    return known
  }

  forget (peer: string): void {
    this.byPeer.delete(peer)
  }
}

export interface LinkEnds {
  initiator: 'local' | 'remote'
  peer: string
}

/**
 * A second link to a peer that already has one. When the two crossed (each
 * side dialled), both sides keep the one opened by the lower peer id, so they
 * agree without a word. When one side opened both, the new one replaces a
 * stale one. `crossing` says whether the old link carried the same peer's live
 * state (its HAVEs still hold) or a stale one's (they may describe an image
 * the peer has since removed).
 */
export function resolveSecondLink (selfId: string, link: LinkEnds, existing: LinkEnds): { keepNew: boolean, crossing: boolean } {
  const opener = (l: LinkEnds): string => l.initiator === 'local' ? selfId : l.peer
  return { keepNew: opener(link) <= opener(existing), crossing: opener(link) !== opener(existing) }
}

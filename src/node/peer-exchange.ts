/**
 * Peer exchange for one image: each trading partner is told of the others
 * it has not heard of from us yet, so a swarm meshes within a round trip or
 * so instead of waiting on gossip.
 */
import type { Link } from './link.js'
import { MAX_PEX_PEERS, type PexEntry } from './wire.js'

/** Peer exchange waits this long after a new link, so a burst of links makes one exchange. */
const PEX_BATCH_MS = 200

export class PeerExchange {
  private timer?: NodeJS.Timeout

  /** `addrsOf`: dialable addresses of a peer (empty if unknown). */
  constructor (private readonly links: ReadonlyMap<string, Link>, private readonly addrsOf: (peer: string) => Uint8Array[]) {}

  /**
   * A link joined. Links come in bursts when a pull starts (one per
   * neighbour); telling every link about every new one as each arrives sent
   * N² PEERS frames, each dag-cbor encoded, ~0.3 s of CPU per host at 16
   * hosts. One exchange per burst carries the same news.
   */
  schedule (): void {
    if (this.timer != null) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.exchange()
    }, PEX_BATCH_MS)
    this.timer.unref()
  }

  close (): void {
    clearTimeout(this.timer)
  }

  private exchange (): void {
    if (this.links.size < 2) return
    const entries = new Map<string, PexEntry>()
    for (const l of this.links.values()) {
      const addrs = this.addrsOf(l.peer)
      if (addrs.length > 0) entries.set(l.peer, { id: l.peer, addrs })
    }
    for (const l of this.links.values()) {
      const fresh: PexEntry[] = []
      for (const [id, e] of entries) {
        if (id === l.peer || l.pexSent.has(id)) continue
        l.pexSent.add(id)
        fresh.push(e)
        if (fresh.length >= MAX_PEX_PEERS) break
      }
      l.peers(fresh)
    }
  }
}

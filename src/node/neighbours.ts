/**
 * Keeps each daemon connected to up to `target` other imgp2p hosts before any
 * pull starts.
 *
 * Why: hosts are usually given one bootstrap address (the front-end). Without
 * this they meet each other only through peer exchange once a deployment
 * starts, and then N hosts open ~N²/2 TLS connections in the same second,
 * each costing ~12 ms of CPU per end plus identify and gossipsub set-up. In
 * the 16-host cluster benchmark that burst held both cores for the first 2-3 s
 * of every pull. Daemons run for days; a pull should find its neighbours
 * already connected and only open streams.
 *
 * /imgp2p/neighbours/1.0.0: the dialer reads one PEERS frame (the swarm
 * wire's encoding, so the same bounds apply): imgp2p hosts the listener is
 * connected to, with their listen addresses. The listener then closes.
 */
import type { PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { randomInt, shuffle } from '../policy/index.js'
import type { Rng } from '../policy/types.js'
import type { Imgp2pHost } from './host.js'
import { BoundedWriter } from './stream-writer.js'
import { FrameDecoder, MAX_PEX_PEERS, MsgType, encodePeers, type PexEntry } from './wire.js'

export const NEIGHBOURS_PROTOCOL = '/imgp2p/neighbours/1.0.0'
/** Default number of imgp2p hosts each daemon stays connected to. */
export const DEFAULT_NEIGHBOURS = 32

const MAINTAIN_MS = 10_000
/** Ask the same peer for its neighbours at most this often. */
const ASK_AGAIN_MS = 30_000
const TIMEOUT_MS = 10_000

export interface NeighbourhoodOptions {
  host: Imgp2pHost
  /** Connections to other imgp2p hosts to keep; 0 turns the module off (it still answers). */
  target: number
  rng: Rng
  /** Listen addresses of an identified peer (bytes), for the answer we give. */
  addrsOf: (peer: string) => Uint8Array[]
  log: (msg: string) => void
}

export class Neighbourhood {
  /** Connected peers whose identify lists this protocol: imgp2p hosts. */
  private readonly imgp2pPeers = new Set<string>()
  private readonly askedAt = new Map<string, number>()
  private readonly dialing = new Set<string>()
  private timer?: NodeJS.Timeout
  private running = false
  private stopped = false

  constructor (private readonly opts: NeighbourhoodOptions) {}

  async start (): Promise<void> {
    await this.opts.host.handle(NEIGHBOURS_PROTOCOL, (stream) => { void this.serve(stream) }, { maxInboundStreams: 8 })
    if (this.opts.target <= 0) return
    this.timer = setInterval(() => { this.maintain() }, MAINTAIN_MS)
    this.timer.unref()
  }

  stop (): void {
    this.stopped = true
    clearInterval(this.timer)
  }

  /** From identify: `protocols` tells whether the peer is an imgp2p host. */
  onIdentified (peer: string, protocols: string[]): void {
    if (!protocols.includes(NEIGHBOURS_PROTOCOL)) return
    this.imgp2pPeers.add(peer)
    this.maintain()
  }

  onDisconnected (peer: string): void {
    this.imgp2pPeers.delete(peer)
    this.askedAt.delete(peer)
  }

  /**
   * A peer found by a discovery service (mDNS): libp2p 3 only records it, so
   * dial it while we have room for neighbours. Whether it speaks imgp2p shows
   * at identify.
   */
  onDiscovered (peer: string, addrs: Multiaddr[]): void {
    if (this.stopped || peer === this.opts.host.peerId.toString() || this.imgp2pPeers.has(peer) || this.dialing.has(peer)) return
    if (this.imgp2pPeers.size + this.dialing.size >= Math.max(1, this.opts.target)) return
    void this.dial(peer, addrs)
  }

  private maintain (): void {
    if (this.running || this.stopped || this.opts.target <= 0 || this.imgp2pPeers.size >= this.opts.target) return
    const now = Date.now()
    const ask = [...this.imgp2pPeers].filter(p => now - (this.askedAt.get(p) ?? -Infinity) >= ASK_AGAIN_MS)
    if (ask.length === 0) return
    const peer = ask[randomInt(this.opts.rng, ask.length)]
    this.askedAt.set(peer, now)
    this.running = true
    this.grow(peer).catch((err: Error) => { this.opts.log(`cannot learn neighbours from ${peer}: ${err.message}`) })
      .finally(() => { this.running = false })
  }

  private async grow (from: string): Promise<void> {
    const { host } = this.opts
    const signal = AbortSignal.timeout(TIMEOUT_MS)
    const stream = await host.dialProtocol(peerIdFromString(from), NEIGHBOURS_PROTOCOL, { signal })
    const entries = await readPeers(stream, signal)
    const self = host.peerId.toString()
    const fresh = entries.filter(e => e.id !== self && !this.imgp2pPeers.has(e.id) && !this.dialing.has(e.id))
    shuffle(fresh, this.opts.rng)
    const room = Math.max(0, this.opts.target - this.imgp2pPeers.size - this.dialing.size)
    await Promise.all(fresh.slice(0, room).map(async e => { await this.dialEntry(e) }))
  }

  /** A PEERS entry from another host: malformed ones cost nothing but themselves. */
  private async dialEntry (e: PexEntry): Promise<void> {
    let addrs: Multiaddr[]
    try {
      peerIdFromString(e.id)
      addrs = e.addrs.map(a => multiaddr(a))
    } catch {
      return
    }
    await this.dial(e.id, addrs)
  }

  private async dial (peer: string, addrs: Multiaddr[]): Promise<void> {
    this.dialing.add(peer)
    try {
      const id: PeerId = peerIdFromString(peer)
      if (addrs.length > 0) await this.opts.host.peerStore.merge(id, { multiaddrs: addrs })
      await this.opts.host.dial(id, { signal: AbortSignal.timeout(TIMEOUT_MS) })
    } catch (err) {
      this.opts.log(`cannot reach neighbour ${peer}: ${(err as Error).message}`)
    } finally {
      this.dialing.delete(peer)
    }
  }

  private async serve (stream: Stream): Promise<void> {
    try {
      const peers = [...this.imgp2pPeers].map(id => ({ id, addrs: this.opts.addrsOf(id) })).filter(p => p.addrs.length > 0)
      // A random sample, so hosts that all ask the front-end spread over the cluster.
      shuffle(peers, this.opts.rng)
      const signal = AbortSignal.timeout(TIMEOUT_MS)
      await new BoundedWriter(stream).write([encodePeers(peers.slice(0, MAX_PEX_PEERS))], signal)
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }
}

async function readPeers (stream: Stream, signal: AbortSignal): Promise<PexEntry[]> {
  const decoder = new FrameDecoder(0)
  for await (const chunk of stream) {
    for (const m of decoder.push(chunk)) {
      if (m.type !== MsgType.Peers) throw new Error(`expected PEERS, got message type ${m.type}`)
      await stream.close({ signal }).catch(() => {})
      return m.peers
    }
    signal.throwIfAborted()
  }
  throw new Error('peer closed the neighbours stream without an answer')
}

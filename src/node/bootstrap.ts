/**
 * Keeps this host connected to the `--peer` addresses an operator gave it,
 * retrying while they are down: hosts boot in any order.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Imgp2pHost } from './host.js'

const RETRY_MS = 5000
const DIAL_TIMEOUT_MS = 10_000

export class BootstrapDialer {
  private timer?: NodeJS.Timeout
  private readonly addrs: Array<{ text: string, ma: Multiaddr, id?: string }> = []

  constructor (private readonly host: Imgp2pHost, peers: string[], private readonly log: (msg: string) => void) {
    for (const text of peers) {
      try {
        const ma = multiaddr(text)
        this.addrs.push({ text, ma, id: ma.getComponents().find(c => c.name === 'p2p')?.value })
      } catch {
        log(`ignoring bad --peer address ${text}`)
      }
    }
  }

  start (): void {
    this.dialAll()
    this.timer = setInterval(() => { this.dialAll() }, RETRY_MS)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
  }

  private dialAll (): void {
    const self = this.host.peerId.toString()
    for (const { text, ma, id } of this.addrs) {
      // An address without /p2p/<id> is matched by where our connections go.
      if (id != null && (id === self || this.host.getConnections(peerIdFromString(id)).length > 0)) continue
      if (id == null && this.host.getConnections().some(c => c.remoteAddr.toString().startsWith(ma.toString()))) continue
      this.host.dial(ma, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) }).catch((err: Error) => {
        this.log(`cannot reach peer ${text} yet: ${err.message}`)
      })
    }
  }
}

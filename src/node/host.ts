/** Builds the libp2p host every imgp2p node runs: TCP, noise, yamux, identify, gossipsub. */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { mdns } from '@libp2p/mdns'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { createHash } from 'node:crypto'
import { socketTls } from './socket-tls.js'
import type { Refusal, SwarmKey } from './swarm-key.js'
import { installWindowUpdates } from './yamux-window.js'

export interface HostOptions {
  privateKey: PrivateKey
  listen: string[]
  mdns?: boolean
  /** A closed swarm: only peers holding this key connect (swarm-key.ts). */
  swarmKey?: SwarmKey
  /** Told of each connection refused for want of the swarm key. */
  onRefused?: (refusal: Refusal) => void
}

export type Imgp2pHost = Libp2p<{ pubsub: GossipSub, identify: ReturnType<ReturnType<typeof identify>> }>

/**
 * Without it gossipsub checks the signature of every copy of a message
 * before noticing it has seen it: each announcement arrives from ~6 mesh
 * peers, at ~0.1 ms per ed25519 check plus decoding, ~0.15 s of CPU per host
 * during a 16-host pull. A signature names its message exactly (a forged copy
 * has another and is still checked), so it serves as the seen-cache key.
 */
export function fastMsgIdFn (msg: { signature?: Uint8Array, data?: Uint8Array, seqno?: Uint8Array }): string {
  if (msg.signature != null && msg.signature.length > 0) return Buffer.from(msg.signature.buffer, msg.signature.byteOffset, msg.signature.byteLength).toString('base64')
  const h = createHash('sha256')
  if (msg.seqno != null) h.update(msg.seqno)
  if (msg.data != null) h.update(msg.data)
  return h.digest('base64')
}

export async function createHost (opts: HostOptions): Promise<Imgp2pHost> {
  // Credit once half a stream's window is used, not per frame (yamux-window.ts). Should the
  // library change shape, it is left as it is: correct, only chattier.
  installWindowUpdates()
  return await createLibp2p({
    privateKey: opts.privateKey,
    addresses: { listen: opts.listen },
    transports: [tcp()],
    // TLS first: on these machines it moved 40-55% more per core than noise
    // (STACK-FACTS.md), and more again attached to the socket (socket-tls.ts);
    // noise stays for peers that only speak noise. A closed swarm's proof
    // rides on the TLS session, so there TLS is the only way in.
    connectionEncrypters: opts.swarmKey !== undefined
      ? [socketTls({ swarmKey: opts.swarmKey, onRefused: opts.onRefused })]
      : [socketTls(), noise()],
    // A 16 MiB window lets one stream fill a fast LAN link despite the round trip.
    streamMuxers: [yamux({ maxMessageSize: 64 * 1024 })],
    peerDiscovery: opts.mdns === true ? [mdns()] : [],
    connectionManager: {
      // Hundreds of hypervisors may trade one image; let the swarm, not libp2p's defaults, bound fan-out.
      maxConnections: 1000
    },
    services: {
      identify: identify(),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        fastMsgIdFn,
        emitSelf: false,
        // Announcements are small; anything bigger is not ours.
        maxInboundDataLength: 256 * 1024
      })
    }
  }) as Imgp2pHost
}

/**
 * Finds an image's manifest: asks announced holders first, then every
 * connected peer, a few at a time, again as new ones appear, until one
 * answers with bytes that hash to the CID or the time is up.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import type { ImageStore } from '../cache/types.js'
import type { Manifest } from '../chunking/manifest.js'
import { NoProvidersError, NotFoundError } from '../errors.js'
import type { Announcer } from './announcer.js'
import type { Imgp2pHost } from './host.js'
import { fetchManifest } from './manifest-protocol.js'
import { MANIFEST_PROTOCOL } from './protocols.js'

export interface FinderDeps {
  host: Imgp2pHost
  announcer: Announcer
  store: ImageStore
  selfId: string
}

export interface FindOptions {
  timeoutMs: number
  signal?: AbortSignal
  /** Called once, when the search starts (for progress displays). */
  onSearch?: () => void
}

const PARALLEL_ASKS = 8
/** Ask one peer again only after this long: it may have got the image meanwhile. */
const REASK_MS = 2000
const ROUND_PAUSE_MS = 200
const ASK_TIMEOUT_MS = 10_000

export async function findManifest (deps: FinderDeps, cid: CID, opts: FindOptions): Promise<Manifest> {
  const key = cid.toString()
  const deadline = Date.now() + opts.timeoutMs
  const asked = new Map<string, number>()
  opts.onSearch?.()
  while (Date.now() < deadline) {
    opts.signal?.throwIfAborted()
    const now = Date.now()
    const fresh = (c: { peer: string }): boolean => c.peer !== deps.selfId && now - (asked.get(c.peer) ?? -Infinity) > REASK_MS
    const holders = deps.announcer.holdersOf(key).map(h => ({ peer: h.peer, addrs: h.addrs })).filter(fresh)
    // Announced holders alone while there are any: with every host of a
    // deployment asking at once, each stream to a peer that lacks the
    // manifest is CPU taken from the transfer.
    const candidates = holders.length > 0
      ? holders
      : deps.host.getPeers().map(p => ({ peer: p.toString(), addrs: [] as Multiaddr[] })).filter(fresh)
    const tries = candidates.slice(0, PARALLEL_ASKS).map(async c => {
      asked.set(c.peer, now)
      const bytes = await askForManifest(deps.host, c.peer, c.addrs, cid, { signal: opts.signal })
      if (bytes == null) throw new NotFoundError('peer lacks it')
      return bytes
    })
    if (tries.length > 0) {
      try {
        return await deps.store.putManifest(cid, await Promise.any(tries), { durable: false })
      } catch {
        // Nobody had it (or answered wrongly); ask again as holders appear.
      }
    }
    await new Promise(resolve => setTimeout(resolve, ROUND_PAUSE_MS))
  }
  throw new NoProvidersError(`no peer has image ${key} (asked ${asked.size} peer${asked.size === 1 ? '' : 's'} within ${Math.round(opts.timeoutMs / 1000)} s)`)
}

/**
 * Ask one peer for a manifest, dialling it at `addrs` if given, within
 * ASK_TIMEOUT_MS: its verified bytes, or undefined if it lacks it. Throws on
 * a lying or unreachable peer, or a manifest over `maxBytes`.
 */
export async function askForManifest (host: Imgp2pHost, peer: string, addrs: Multiaddr[], cid: CID, opts: { signal?: AbortSignal, maxBytes?: number } = {}): Promise<Uint8Array | undefined> {
  const pid = peerIdFromString(peer)
  if (addrs.length > 0) await host.peerStore.merge(pid, { multiaddrs: addrs })
  const signal = AbortSignal.any([AbortSignal.timeout(ASK_TIMEOUT_MS), ...(opts.signal != null ? [opts.signal] : [])])
  const stream = await host.dialProtocol(pid, MANIFEST_PROTOCOL, { signal })
  return await fetchManifest(stream, cid, signal, opts.maxBytes)
}

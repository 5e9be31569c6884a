/**
 * What a node tells others about itself: the images it holds, for gossip,
 * and its status, for `imgp2p status`. Plain functions over the node's
 * images, so node.ts keeps only the wiring.
 */
import type { ImageInfo } from '../cache/types.js'
import type { HeldImage } from './announcer.js'
import type { NodeStatus } from './node-types.js'
import type { SwarmImage } from './swarm-image.js'

/** Complete images, and partial copies a pull has verified chunks of. */
export function heldImages (completeImages: ReadonlySet<string>, images: ReadonlyMap<string, SwarmImage>): HeldImage[] {
  const out = new Map<string, HeldImage>()
  for (const cid of completeImages) out.set(cid, { cid, complete: true, haveCount: -1 })
  for (const img of images.values()) {
    if (img.complete) out.set(img.key, { cid: img.key, complete: true, haveCount: img.chunkCount })
    else if (img.downloading && img.heldCount() > 0) out.set(img.key, { cid: img.key, complete: false, haveCount: img.heldCount() })
  }
  return [...out.values()]
}

/** Traffic not (or no longer) in any image's counters: manifests sent, images removed since. */
export interface Traffic { sent: number, received: number, crossZone: number }

/** Keep a removed image's traffic in the totals, so they only ever grow (monitoring reads them as counters). */
export function retire (totals: Traffic, img: SwarmImage): void {
  totals.sent += img.uploadedBytes
  totals.received += img.downloadedBytes
  totals.crossZone += img.crossZoneBytes
}

/** Byte counters over all images, and each cached image with its trading state. */
export function imageReport (infos: ImageInfo[], images: ReadonlyMap<string, SwarmImage>, base: Traffic, now: number):
Pick<NodeStatus, 'bytesSent' | 'bytesReceived' | 'bytesReceivedCrossZone' | 'images'> {
  let bytesSent = base.sent
  let bytesReceived = base.received
  let bytesReceivedCrossZone = base.crossZone
  for (const img of images.values()) {
    bytesSent += img.uploadedBytes
    bytesReceived += img.downloadedBytes
    bytesReceivedCrossZone += img.crossZoneBytes
  }
  return {
    bytesSent,
    bytesReceived,
    bytesReceivedCrossZone,
    images: infos.map(info => {
      const img = images.get(info.cid)
      let up = 0
      let down = 0
      for (const l of img?.links.values() ?? []) { up += l.uploaded.sample(now); down += l.downloaded.sample(now) }
      return {
        ...info,
        downloading: img?.downloading ?? false,
        links: img?.links.size ?? 0,
        uploadRate: up,
        downloadRate: down,
        corruptChunks: img?.corruptChunks ?? 0,
        bannedPeers: [...(img?.banned ?? [])]
      }
    })
  }
}

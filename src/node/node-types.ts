/** What an Imgp2pNode is configured with and reports: the node's boundary types. */
import type { ImageExporter, ImageInfo, ImageStore } from '../cache/types.js'
import type { CpuSample } from '../policy/compression-gate.js'
import type { ChokerConfig, DuplicateCounts, OriginConfig } from '../policy/types.js'
import type { CacheUsage } from './cache-keeper.js'
import type { CpuRoomReport } from './cpu-room.js'
import type { DownloadProgress } from './swarm-image.js'
import type { LinkCaps } from './swarm-links.js'
import type { RefusalReport, SwarmKey } from './swarm-key.js'

export interface NodeOptions {
  dataDir: string
  listen?: string[]
  /** Bootstrap peers, with or without /p2p/<id>. */
  peers?: string[]
  zone?: string
  /** Serve complete images in origin mode (the front-end). Images added here always are. */
  origin?: boolean
  mdns?: boolean
  /** Other imgp2p hosts to stay connected to before any pull (default 32; 0: only --peer and swarm partners). */
  neighbours?: number
  /**
   * This host's link rate in bits/s, as the operator states it. Told to
   * peers; an origin whose rate covers every host pulling at theirs serves
   * them like a plain copy would (full service).
   */
  linkBps?: number
  /**
   * Cap on the chunk data this host sends, in bits/s, across every peer and
   * image (TCP/IP and TLS add ~5 % on the wire). Absent: as fast as the
   * links go.
   */
  uploadBps?: number
  /**
   * Cap on the chunk data this host asks for, in bits/s, across every peer
   * and image: a chunk is charged when requested, at its full size, so what
   * arrives stays under it (compressed chunks arrive smaller still). Told to
   * peers as what this host takes. Absent: as fast as the links go.
   */
  downloadBps?: number
  /**
   * Take zstd-compressed chunks, and send them so to peers that take them
   * where that saves a tenth or more. On unless false: a Debian disk image
   * goes on the wire at 0.47 x its data, and each host spends less CPU
   * inflating than it saves receiving (bench/cluster/FINDINGS.md session 14).
   */
  compressChunks?: boolean
  /**
   * Take compressed chunks even while this host's CPU, not its link, is the
   * limit (default false: then it asks for chunks as they are;
   * policy/compression-gate.ts says how it tells).
   */
  compressWhenCpuBound?: boolean
  /** The network thread's scheduler counters (default: /proc/thread-self/schedstat); for tests. */
  cpuClock?: () => CpuSample | undefined
  store?: ImageStore & ImageExporter
  announceBatchMs?: number
  announceSteadyMs?: number
  choker?: Partial<ChokerConfig>
  /** Overrides of the origin policy's defaults, for images this node serves in origin mode. */
  originPolicy?: Partial<OriginConfig>
  /** Seed for the policy's randomness; random by default. */
  seed?: number
  /** Serve /imgp2p/perf/1.0.0 (benchmarks only: it lets peers make us send data). */
  enablePerf?: boolean
  /** How many peers a pulling host trades one image with (swarm-links.ts has the defaults and why). */
  links?: Partial<LinkCaps>
  /** A pull announces its partial copy over gossip once it has run this long (default 30 s; image-download.ts says why). */
  partialNewsAfterMs?: number
  /** A finished pull announces its complete copy after this delay (default 10 s; image-download.ts says why). */
  completeNewsDelayMs?: number
  /** Fetch the manifests of images peers announce, so a pull starts trading at once (default true; manifest-prefetch.ts). */
  prefetchManifests?: boolean
  /**
   * Keep the cache's complete images under this many bytes on disk, removing
   * the least recently used first (cache-keeper.ts says what always stays).
   * Unbounded when absent.
   */
  cacheMaxBytes?: number
  /** An image used this recently always stays (default DEFAULT_CACHE_GRACE_MS, 10 min); for tests. */
  cacheGraceMs?: number
  /** Threads that verify chunk hashes; 0 hashes on the network thread. */
  hashWorkers?: number
  /**
   * A closed swarm: only hosts holding this key connect (swarm-key.ts).
   * Absent: any host that reaches the listen port may join.
   */
  swarmKey?: SwarmKey
  /** Detail for debugging (`--verbose`). */
  log?: (msg: string) => void
  /** What the operator must always hear: refused connections, images removed from the cache (default: log). */
  notice?: (msg: string) => void
}

export interface PullOptions {
  out?: string
  signal?: AbortSignal
  /** Fail when no chunk (or manifest) arrived for this long. */
  timeoutMs?: number
  onProgress?: (p: PullProgress) => void
  /** Report download progress at most this often (default 250 ms; phase changes always). */
  progressIntervalMs?: number
  /** Called synchronously as each chunk is verified and stored. */
  onChunk?: (index: number) => void
}

export interface PullProgress extends DownloadProgress {
  cid: string
  phase: 'manifest' | 'download' | 'copy' | 'done'
  chunkSize: number
  size: number
}

export interface PullResult {
  cid: string
  /** Where the image is: the --out path, or the cache. */
  path: string
  /** download: fetched from peers; reflink/copy: it was cached, and this made the local copy. */
  method: 'download' | 'reflink' | 'copy' | 'cached'
  bytesDownloaded: number
  /** Chunk payload this pull received as it crossed the network (compressed where it came so, duplicates included). */
  bytesOnWire?: number
  /** Gossip announcements this host received while the pull ran: each cost it a few ms of CPU. */
  announcementsReceived: number
  /** Chunks that arrived twice while the download ran, by what made it ask a second peer (policy/duplicate-ledger.ts). */
  duplicateChunks?: DuplicateCounts
}

/** Pulls this daemon finished since it started. */
export interface VerifyTally {
  chunks: number
  damaged: number
}

export interface PullTally {
  ok: number
  failed: number
  /** Time the successful ones took, together. */
  seconds: number
  /** Verified chunk bytes the successful ones fetched from peers. */
  bytesFetched: number
}

export interface NodeStatus {
  peerId: string
  addrs: string[]
  zone?: string
  peers: Array<{ id: string, addrs: string[] }>
  /** Whether this host takes compressed chunks now, and the CPU figures that decided it (absent with compression off). */
  cpu?: CpuRoomReport
  /** Bytes the cache's images take on disk, as of the last pass, and --cache-max (absent without it). */
  cache?: CacheUsage
  /** --upload-mbit in bits/s (absent: uncapped). */
  uploadCapBps?: number
  /** --download-mbit in bits/s (absent: uncapped). */
  downloadCapBps?: number
  /** A closed swarm's key fingerprint and what it refused (absent: the swarm is open). */
  swarm?: RefusalReport
  pulls: PullTally
  /** What `imgp2p verify` read back since the daemon started, and found damaged. */
  verified: VerifyTally
  bytesSent: number
  bytesReceived: number
  /** Chunk bytes received from peers of another zone (both zones known), duplicates included. */
  bytesReceivedCrossZone: number
  images: Array<ImageInfo & { downloading: boolean, links: number, uploadRate: number, downloadRate: number, corruptChunks: number, bannedPeers: string[] }>
}

/** How far `imgp2p verify` is through one image. */
export interface VerifyProgress {
  cid: string
  checked: number
  total: number
}

/**
 * Fetches the manifests of images that peers announce as complete, before
 * anyone asks to pull them, and keeps them in memory (never on disk, so `ls`
 * shows only what was pulled or added). A pull then starts trading at once.
 *
 * Why: at the start of a deployment every host asks the front-end for the
 * manifest in the same second, a round trip each on a loaded machine. With 8
 * hosts pulling 64 MiB at once the manifest came 50-240 ms after the pull
 * reached the daemon (bench/cluster/FINDINGS.md, session 8 A): up to a sixth
 * of what an 8 MiB image takes to move at 50 Mbit/s.
 *
 * Bounded: manifests of at most `maxBytes` each (an image of ~3 GB in 512 KiB
 * chunks), `budgetBytes` in all (oldest dropped first), a few fetches at a
 * time. An image is fetched once (a failed fetch is tried again a minute
 * later), never again after its manifest was dropped for room: every host
 * re-announces its images every 30 s, and a cloud with more images than
 * the budget would otherwise fetch them round and round. Each host waits
 * a random moment first, so a new image's announcement does not bring every
 * host to the front-end at once.
 */
import type { CID } from 'multiformats/cid'
import type { Holder } from './announcer.js'
import type { Imgp2pHost } from './host.js'
import { askForManifest } from './manifest-finder.js'
import type { Rng } from '../policy/types.js'

/** Gets one manifest from one holder: its verified bytes, undefined if it lacks it; throws on failure or over `maxBytes`. */
export type ManifestFetch = (cid: CID, holder: Holder, maxBytes: number) => Promise<Uint8Array | undefined>

export interface PrefetchOptions {
  fetch: ManifestFetch
  selfId: string
  rng: Rng
  /** Whether we need no prefetch for this image (we hold or pull it, or have its manifest). */
  known: (cid: string) => boolean
  maxBytes?: number
  budgetBytes?: number
  /** Longest random wait before a fetch, ms. */
  jitterMs?: number
  now?: () => number
  log: (msg: string) => void
}

/** The fetch over libp2p: dial the holder at its announced addresses and ask. */
export function fetchFromHolder (host: Imgp2pHost): ManifestFetch {
  return async (cid, holder, maxBytes) => await askForManifest(host, holder.peer, holder.addrs, cid, { maxBytes })
}

const MAX_BYTES = 256 * 1024
const BUDGET_BYTES = 8 * 1024 * 1024
const JITTER_MS = 500
const PARALLEL = 2
/** An image whose manifest we could not get is tried again only after this long. */
const RETRY_MS = 60_000

export class ManifestPrefetch {
  private readonly got = new Map<string, Uint8Array>()
  private gotBytes = 0
  /** When each image's manifest was last asked for; Infinity once fetched. */
  private readonly tried = new Map<string, number>()
  private running = 0
  private readonly waiting: Array<{ cid: CID, holder: Holder }> = []
  private stopped = false
  private readonly timers = new Set<NodeJS.Timeout>()

  private readonly now: () => number

  constructor (private readonly opts: PrefetchOptions) {
    this.now = opts.now ?? Date.now
  }

  /** Manifest bytes held for pulls to come. */
  get heldBytes (): number { return this.gotBytes }

  /** A peer announced an image: fetch its manifest if it is complete there and new to us. */
  onHolder (cid: CID, holder: Holder): void {
    const key = cid.toString()
    if (this.stopped || !holder.complete || holder.peer === this.opts.selfId) return
    if (this.now() - (this.tried.get(key) ?? -Infinity) < RETRY_MS || this.opts.known(key)) return
    this.tried.set(key, this.now())
    const wait = Math.floor(this.opts.rng() * (this.opts.jitterMs ?? JITTER_MS))
    const t = setTimeout(() => {
      this.timers.delete(t)
      this.waiting.push({ cid, holder })
      this.next()
    }, wait)
    t.unref()
    this.timers.add(t)
  }

  /** The manifest bytes, if prefetched (verified against the CID when fetched); handed over once. */
  take (cid: CID): Uint8Array | undefined {
    const key = cid.toString()
    const bytes = this.got.get(key)
    if (bytes != null) {
      this.got.delete(key)
      this.gotBytes -= bytes.length
    }
    return bytes
  }

  stop (): void {
    this.stopped = true
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    this.waiting.length = 0
  }

  private next (): void {
    while (!this.stopped && this.running < PARALLEL && this.waiting.length > 0) {
      const job = this.waiting.shift()
      if (job == null || this.opts.known(job.cid.toString())) continue
      this.running++
      this.fetch(job.cid, job.holder).catch((err: Error) => {
        this.opts.log(`prefetching the manifest of ${job.cid.toString()} from ${job.holder.peer}: ${err.message}`)
      }).finally(() => {
        this.running--
        this.next()
      })
    }
  }

  private async fetch (cid: CID, holder: Holder): Promise<void> {
    const bytes = await this.opts.fetch(cid, holder, this.opts.maxBytes ?? MAX_BYTES)
    if (bytes == null || this.stopped || this.opts.known(cid.toString())) return
    this.tried.set(cid.toString(), Infinity)
    const budget = this.opts.budgetBytes ?? BUDGET_BYTES
    for (const [k, b] of this.got) {
      if (this.gotBytes + bytes.length <= budget) break
      this.got.delete(k)
      this.gotBytes -= b.length
    }
    this.got.set(cid.toString(), bytes)
    this.gotBytes += bytes.length
  }
}

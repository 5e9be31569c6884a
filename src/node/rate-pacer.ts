/**
 * A host's caps (`--upload-mbit`, `--download-mbit`): one token bucket per
 * direction, shared by every link of every image, so the VMs on a hypervisor
 * keep the rest of its link however many peers trade with it.
 *
 * Uploads wait for their bytes before each chunk goes. Downloads are capped
 * where they start: a chunk is charged when it is requested, so what arrives
 * can never outrun the cap (a request that is cancelled wastes its share,
 * erring below the cap, never above).
 */
import { TokenBucket } from '../policy/token-bucket.js'

/** 100 ms at the rate, and never less than a large chunk, so a chunk goes in one piece. */
const BURST_MS = 100
const MIN_BURST_BYTES = 512 * 1024

/** What the uploader uses of the upload cap. */
export interface UploadCap {
  readonly bitsPerSecond: number
  /** Resolves when `bytes` may be sent. */
  wait: (bytes: number) => Promise<void>
}

/** What a download uses of the download cap. */
export interface DownloadCap {
  readonly bitsPerSecond: number
  /** How many requests of `unitBytes` may start now. */
  allowance: (unitBytes: number) => number
  /** Charge a request's bytes. */
  take: (bytes: number) => void
}

/** Both caps are one pacer each: RatePacer serves as either. */
export class RatePacer implements UploadCap, DownloadCap {
  private readonly bucket: TokenBucket
  readonly bitsPerSecond: number
  private readonly now: () => number

  constructor (bitsPerSecond: number, now: () => number = () => performance.now()) {
    this.bitsPerSecond = bitsPerSecond
    this.now = now
    const bytesPerMs = bitsPerSecond / 8 / 1000
    this.bucket = new TokenBucket(bytesPerMs, Math.max(MIN_BURST_BYTES, bytesPerMs * BURST_MS), now())
  }

  /** Resolves when `bytes` may be sent. */
  async wait (bytes: number): Promise<void> {
    const ms = this.bucket.reserve(bytes, this.now())
    if (ms > 0) await new Promise(resolve => setTimeout(resolve, ms))
  }

  /**
   * How many requests of `unitBytes` each may start now: enough to use what
   * the bucket holds, the last one going into debt (so a unit larger than
   * the burst still goes); 0 while an earlier debt is unpaid.
   */
  allowance (unitBytes: number): number {
    const tokens = this.bucket.available(this.now())
    return tokens > 0 ? Math.ceil(tokens / unitBytes) : 0
  }

  /** Charge `bytes` started now, without waiting. */
  take (bytes: number): void {
    this.bucket.reserve(bytes, this.now())
  }
}

/** What a host can send (or take): its stated link, or its cap below it; unknown if neither is stated. */
export function cappedBps (linkBps: number | undefined, capBps: number | undefined): number | undefined {
  if (linkBps == null) return capBps
  return capBps == null ? linkBps : Math.min(linkBps, capBps)
}

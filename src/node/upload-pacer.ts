/**
 * The host's upload cap (`--upload-mbit`): one token bucket shared by every
 * link of every image, so the VMs on a hypervisor keep the rest of its link
 * however many peers pull from it.
 */
import { TokenBucket } from '../policy/token-bucket.js'

/** 100 ms at the rate, and never less than a large chunk, so a chunk goes in one piece. */
const BURST_MS = 100
const MIN_BURST_BYTES = 512 * 1024

export class UploadPacer {
  private readonly bucket: TokenBucket

  constructor (readonly bitsPerSecond: number, private readonly now: () => number = () => performance.now()) {
    const bytesPerMs = bitsPerSecond / 8 / 1000
    this.bucket = new TokenBucket(bytesPerMs, Math.max(MIN_BURST_BYTES, bytesPerMs * BURST_MS), now())
  }

  /** Resolves when `bytes` may be sent. */
  async wait (bytes: number): Promise<void> {
    const ms = this.bucket.reserve(bytes, this.now())
    if (ms > 0) await new Promise(resolve => setTimeout(resolve, ms))
  }
}

/** What a host can send: its stated link, or the cap below it; unknown if neither is stated. */
export function sendableBps (linkBps: number | undefined, capBps: number | undefined): number | undefined {
  if (linkBps == null) return capBps
  return capBps == null ? linkBps : Math.min(linkBps, capBps)
}

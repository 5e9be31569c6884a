/**
 * Pull progress for people and machines: a redrawn bar with rate and ETA on
 * a terminal, a plain line every few seconds otherwise, JSON lines with --json.
 */
import { formatBytes } from '../util/size.js'

export interface ProgressEvent {
  phase?: string
  have?: number
  total?: number
  bytes?: number
  peers?: number
  size?: number
  chunkSize?: number
}

export class ProgressReporter {
  private readonly started = Date.now()
  private lastPlain = 0
  private drawn = false

  constructor (private readonly mode: 'tty' | 'plain' | 'json', private readonly out: NodeJS.WriteStream = process.stderr) {}

  /**
   * How often the daemon should send progress: a bar on a terminal redraws
   * 4 times a second; a log or a cloud manager reading JSON needs once a
   * second, and 24 pulls at 4 Hz were ~100 control messages a second on a
   * host already short of CPU in the cluster benchmark.
   */
  get intervalMs (): number { return this.mode === 'tty' ? 250 : 1000 }

  static for (json: boolean): ProgressReporter {
    return new ProgressReporter(json ? 'json' : process.stderr.isTTY ? 'tty' : 'plain')
  }

  update (p: ProgressEvent): void {
    const now = Date.now()
    if (this.mode === 'json') { process.stdout.write(JSON.stringify({ event: 'progress', ...p, elapsedMs: now - this.started }) + '\n'); return }
    const total = p.total ?? 0
    const have = p.have ?? 0
    const frac = total > 0 ? have / total : 0
    const secs = Math.max(0.001, (now - this.started) / 1000)
    const rate = (p.bytes ?? 0) / secs
    const remaining = (p.size ?? 0) * (1 - frac)
    const eta = rate > 0 ? Math.ceil(remaining / rate) : undefined
    const text = p.phase === 'manifest'
      ? 'looking for peers that hold the image...'
      : p.phase === 'copy'
        ? 'image cached; making a local copy...'
        : `${(frac * 100).toFixed(1).padStart(5)}%  ${formatBytes(rate)}/s  ETA ${eta == null ? '--' : `${eta}s`}  peers ${p.peers ?? 0}`
    if (this.mode === 'tty') {
      const width = 30
      const fill = Math.round(frac * width)
      this.out.write(`\r[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${text}\x1b[K`)
      this.drawn = true
    } else if (now - this.lastPlain >= 2000 || p.phase === 'done') {
      this.lastPlain = now
      this.out.write(`pull: ${text}\n`)
    }
  }

  finish (): void {
    if (this.drawn) this.out.write('\n')
  }
}

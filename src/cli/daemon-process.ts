/**
 * Start `imgp2p daemon` as a child process, the way an operator's service
 * manager does, and wait until it is ready. Used by `imgp2p demo`, the CLI
 * tests and the benchmarks.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** bin/imgp2p of this package, found from src/ (tests) or dist/src/ (built) alike. */
export const BIN = findBin(dirname(fileURLToPath(import.meta.url)))

function findBin (from: string): string {
  for (let d = from; d !== dirname(d); d = dirname(d)) {
    const candidate = join(d, 'bin', 'imgp2p')
    if (existsSync(candidate) && existsSync(join(d, 'package.json'))) return candidate
  }
  throw new Error(`cannot find bin/imgp2p above ${from}`)
}

export interface DaemonProcessOptions {
  dataDir: string
  listen?: string[]
  peers?: string[]
  zone?: string
  origin?: boolean
  extraArgs?: string[]
  /** Prefix for the command, e.g. ['ip', 'netns', 'exec', 'ns1']. */
  wrapper?: string[]
  readyTimeoutMs?: number
}

export interface DaemonProcess {
  proc: ChildProcess
  peerId: string
  addrs: string[]
  /** Where its metrics are served (--metrics), if they are. */
  metricsUrl?: string
  stderr: () => string
  stop: () => Promise<void>
}

export async function startDaemonProcess (opts: DaemonProcessOptions): Promise<DaemonProcess> {
  const args = [BIN, 'daemon', '--data-dir', opts.dataDir]
  for (const l of opts.listen ?? ['/ip4/127.0.0.1/tcp/0']) args.push('--listen', l)
  for (const p of opts.peers ?? []) args.push('--peer', p)
  if (opts.zone != null) args.push('--zone', opts.zone)
  if (opts.origin === true) args.push('--origin')
  args.push(...(opts.extraArgs ?? []))
  const cmd = [...(opts.wrapper ?? []), process.execPath, ...args]
  const proc = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  proc.stderr?.setEncoding('utf8')
  proc.stderr?.on('data', (d: string) => { err = (err + d).slice(-20_000) })
  const addrs: string[] = []
  let metricsUrl: string | undefined
  const peerId = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`daemon for ${opts.dataDir} not ready in time: ${err.trim()}`)) }, opts.readyTimeoutMs ?? 30_000)
    proc.stdout?.setEncoding('utf8')
    proc.stdout?.on('data', (d: string) => {
      out += d
      let nl: number
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl)
        out = out.slice(nl + 1)
        if (line.startsWith('listening ')) addrs.push(line.slice('listening '.length))
        if (line.startsWith('metrics ')) metricsUrl = line.slice('metrics '.length)
        const m = /^imgp2p daemon ready, peer id (\S+),/.exec(line)
        if (m != null) { clearTimeout(timer); resolve(m[1].replace(/,$/, '')) }
      }
    })
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`daemon for ${opts.dataDir} exited with ${code}: ${err.trim()}`)) })
  })
  const stop = async (): Promise<void> => {
    if (proc.exitCode != null || proc.signalCode != null) return
    const exited = new Promise<void>(resolve => proc.once('exit', () => { resolve() }))
    proc.kill('SIGTERM')
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(t)
  }
  return { proc, peerId, addrs, metricsUrl, stderr: () => err, stop }
}

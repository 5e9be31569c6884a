/**
 * Processes started inside namespaces (`ip netns exec NS ...`), each in a
 * process group of its own so it can be ended by its id with everything it
 * spawned. The registry ends whatever is still alive on cleanup.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { alive, sleepSync } from './sys.js'

export interface Proc {
  label: string
  child: ChildProcess
  pid: number
  /** Wall-clock ms when spawned (performance.now()). */
  startedAt: number
  endedAt?: number
  stdout: string
  stderr: string
  exit: Promise<number | null>
  /** Resolves with the first stdout line matching re. */
  waitForLine: (re: RegExp, timeoutMs: number) => Promise<string>
}

export class ProcessRegistry {
  private readonly procs = new Set<Proc>()

  /** Spawns `cmd args` inside namespace `ns`. */
  spawnIn (ns: string, label: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): Proc {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env
    })
    const startedAt = performance.now()
    if (child.pid === undefined) throw new Error(`could not spawn ${cmd} in ${ns}`)
    const lineWaiters: Array<{ re: RegExp, resolve: (l: string) => void }> = []
    const p: Proc = {
      label, child, pid: child.pid, startedAt, stdout: '', stderr: '',
      exit: new Promise(resolve => {
        child.on('exit', (code) => { p.endedAt = performance.now(); resolve(code) })
        child.on('error', () => { p.endedAt ??= performance.now(); resolve(null) })
      }),
      waitForLine: async (re, timeoutMs) => {
        const have = p.stdout.split('\n').find(l => re.test(l))
        if (have !== undefined) return have
        return await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => { reject(new Error(`${label}: no line matching ${re} within ${timeoutMs} ms; stderr: ${p.stderr.slice(-2000)}`)) }, timeoutMs)
          lineWaiters.push({ re, resolve: (l) => { clearTimeout(timer); resolve(l) } })
          void p.exit.then((code) => {
            clearTimeout(timer)
            reject(new Error(`${label} exited (${code}) before printing ${re}; stderr: ${p.stderr.slice(-2000)}`))
          })
        })
      }
    }
    let partial = ''
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      p.stdout += d
      partial += d
      const lines = partial.split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        for (const w of lineWaiters.filter(w => w.re.test(line))) {
          lineWaiters.splice(lineWaiters.indexOf(w), 1)
          w.resolve(line)
        }
      }
    })
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { p.stderr = (p.stderr + d).slice(-1_000_000) })
    this.procs.add(p)
    void p.exit.then(() => this.procs.delete(p))
    return p
  }

  /** Gracefully stops one process group: SIGTERM, then SIGKILL after graceMs. */
  async stop (p: Proc, graceMs = 5000): Promise<void> {
    if (p.endedAt !== undefined) return
    signalGroup(p.pid, 'SIGTERM')
    const t = setTimeout(() => { signalGroup(p.pid, 'SIGKILL') }, graceMs)
    await p.exit
    clearTimeout(t)
  }

  /** Synchronous: ends every process still registered (usable from signal handlers). */
  killAllSync (): void {
    const pids = [...this.procs].map(p => p.pid)
    for (const pid of pids) signalGroup(pid, 'SIGTERM')
    const deadline = Date.now() + 3000
    while (Date.now() < deadline && pids.some(alive)) sleepSync(50)
    for (const pid of pids) if (alive(pid)) signalGroup(pid, 'SIGKILL')
    this.procs.clear()
  }
}

/** Signals the process group led by pid (we made it leader with detached: true). */
export function signalGroup (pid: number, sig: NodeJS.Signals): void {
  try { process.kill(-pid, sig) } catch {
    try { process.kill(pid, sig) } catch {}
  }
}

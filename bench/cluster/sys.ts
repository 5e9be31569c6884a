/**
 * Small synchronous helpers around child processes and /proc, used by the
 * cluster benchmark. Everything here is synchronous on purpose: cleanup must
 * work from signal handlers and 'exit' handlers.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'

export class CmdError extends Error {
  constructor (readonly cmd: string, readonly status: number | null, readonly stderr: string) {
    super(`command failed (${status}): ${cmd}\n${stderr.trim()}`)
  }
}

/** Runs a command synchronously; throws CmdError unless it exits 0 (or allowFail). */
export function sh (cmd: string, args: string[], opts: { allowFail?: boolean, timeoutMs?: number, env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 30_000, env: opts.env ?? process.env })
  if (r.status !== 0 && opts.allowFail !== true) {
    throw new CmdError([cmd, ...args].join(' '), r.status, (r.stderr ?? '') + (r.error?.message ?? ''))
  }
  return r.stdout ?? ''
}

/** Sleeps synchronously (for cleanup paths only). */
export function sleepSync (ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** True when the pid exists and is not a zombie. */
export function alive (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch { return false }
}

interface ProcStat { pid: number, ppid: number, cpuTicks: number, sysTicks: number }

function readStat (pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields after ')': state(0) ppid(1) ... utime(11) stime(12)
    return { pid, ppid: Number(f[1]), cpuTicks: Number(f[11]) + Number(f[12]), sysTicks: Number(f[12]) }
  } catch { return undefined }
}

const CLK_TCK = 100

/** Pid and all its live descendants. */
export function processTree (root: number): number[] {
  const children = new Map<number, number[]>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const s = readStat(Number(name))
    if (s === undefined) continue
    const list = children.get(s.ppid) ?? []
    list.push(s.pid)
    children.set(s.ppid, list)
  }
  const out: number[] = []
  const todo = [root]
  while (todo.length > 0) {
    const pid = todo.pop() as number
    out.push(pid)
    todo.push(...(children.get(pid) ?? []))
  }
  return out
}

export interface TreeUsage { cpuSeconds: number, sysSeconds: number, maxRssMiB: number }

/** CPU seconds (user+system) summed over a process tree, and the largest peak RSS (VmHWM) in it. */
export function treeUsage (root: number): TreeUsage {
  let ticks = 0
  let sys = 0
  let hwmKiB = 0
  for (const pid of processTree(root)) {
    const s = readStat(pid)
    if (s !== undefined) { ticks += s.cpuTicks; sys += s.sysTicks }
    try {
      const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (m !== null) hwmKiB = Math.max(hwmKiB, Number(m[1]))
    } catch {}
  }
  return { cpuSeconds: ticks / CLK_TCK, sysSeconds: sys / CLK_TCK, maxRssMiB: hwmKiB / 1024 }
}

/** Whole-machine CPU counters from /proc/stat (busy and total jiffies). */
export function cpuCounters (): { busy: number, total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]
  const v = line.trim().split(/\s+/).slice(1).map(Number)
  const idle = v[3] + (v[4] ?? 0)
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0)
  return { busy: total - idle, total }
}

/** Fraction of all cores busy between two cpuCounters() samples. */
export function busyFraction (a: { busy: number, total: number }, b: { busy: number, total: number }): number {
  const dt = b.total - a.total
  return dt > 0 ? (b.busy - a.busy) / dt : 0
}

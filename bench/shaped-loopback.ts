/**
 * Runs a benchmark again inside a network namespace of its own whose loopback
 * is shaped to a link rate, so that CPU per byte can be measured at the rates
 * a host really receives at.
 *
 * Why: unshaped loopback moves a stream at hundreds of MB/s, and there the
 * receiver reads full 64 KiB buffers back to back and its code stays hot. At
 * 12 MB/s the same bytes cost the receiver 4-5 x more CPU on these machines
 * (bench/cluster/FINDINGS.md, session 13), and that is the cost the cluster
 * benchmark's hosts pay. The namespace's loopback gets a 1500-byte MTU, like a
 * veth, and a token bucket; both directions share it, as ACKs share a link.
 * Nothing outside the namespace is touched, and it is deleted on exit, also
 * on failure or Ctrl-C.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { sh } from './cluster/sys.js'

/** Set in the re-run's environment: the name of the namespace it runs in. */
export const SHAPED_NETNS_ENV = 'IMGP2P_BENCH_NETNS'

/** True when this process already runs inside the shaped namespace. */
export function insideShapedLoopback (): boolean {
  return process.env[SHAPED_NETNS_ENV] !== undefined
}

/**
 * Re-runs this script (with `args`) in a fresh namespace whose loopback is
 * shaped to `rate` (tc syntax, e.g. "100mbit"); resolves to its exit code.
 */
export async function rerunShaped (rate: string, args: string[]): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('--rate needs root: it creates a network namespace and shapes it with tc')
  if (!/^\d+(\.\d+)?[kmg]?bit$/i.test(rate)) throw new Error(`--rate ${rate}: give a tc rate such as 100mbit`)
  const ns = `imgp2p-bench-${process.pid}`
  const cleanup = (): void => { sh('ip', ['netns', 'del', ns], { allowFail: true }) }
  sh('ip', ['netns', 'add', ns])
  let child: ChildProcess | undefined
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
  // The re-run and its daemons form a process group of their own: stop them
  // all, or the daemons would outlive the namespace's name.
  const onSignal = (): void => {
    if (child?.pid !== undefined) try { process.kill(-child.pid, 'SIGINT') } catch {}
    cleanup()
    process.exit(130)
  }
  for (const s of signals) process.on(s, onSignal)
  try {
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'mtu', '1500', 'up'])
    // A bucket deeper than one 64 KiB GSO packet, or tbf drops them whole.
    sh('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'tbf', 'rate', rate, 'burst', '64kb', 'latency', '50ms'])
    child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...process.execArgv, process.argv[1], ...args], {
      stdio: 'inherit',
      detached: true,
      env: { ...process.env, [SHAPED_NETNS_ENV]: ns }
    })
    const running = child
    return await new Promise<number>((resolve, reject) => {
      running.once('error', reject)
      running.once('exit', (code, signal) => { resolve(code ?? (signal !== null ? 128 : 1)) })
    })
  } finally {
    for (const s of signals) process.off(s, onSignal)
    cleanup()
  }
}

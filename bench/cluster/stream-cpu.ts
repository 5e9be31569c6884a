/**
 * CPU per byte of one stream over a shaped link (run as root):
 *
 *   node dist/bench/cluster/stream-cpu.js [--mbit 50] [--mib 64] [--min-tso-segs N]
 *
 * Two network namespaces joined by a veth pair shaped like the cluster's
 * host links; an `imgp2p daemon` in each; 64 MiB over the raw perf stream
 * (/imgp2p/perf/1.0.0: TCP + TLS + yamux), then the same bytes over Node's
 * TLS on a plain socket and over plain TCP as references. Prints each side's CPU seconds.
 * At low rates a read carries a few KB, so the per-read cost of the stack
 * shows here and not on loopback (BENCHMARKS.md section 3, FINDINGS D).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { callDaemon } from '../../src/cli/control-client.js'
import { startDaemonProcess } from '../../src/cli/daemon-process.js'
import { repoRoot } from './context.js'
import { sh, treeUsage } from './sys.js'
import { shape } from './topology.js'

const { values } = parseArgs({ options: { mbit: { type: 'string', default: '50' }, mib: { type: 'string', default: '64' }, 'min-tso-segs': { type: 'string' } } })
const mbit = Number(values.mbit)
const bytes = Number(values.mib) * 1024 * 1024
const NS = ['i2p-scpu-a', 'i2p-scpu-b']
const IP = ['10.78.0.1', '10.78.0.2']

const cpuSeconds = (pid: number | undefined): number => pid === undefined ? 0 : treeUsage(pid).cpuSeconds

function cleanup (): void {
  for (const ns of NS) sh('ip', ['netns', 'del', ns], { allowFail: true })
}

async function main (): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces, tc)')
  cleanup()
  for (const ns of NS) sh('ip', ['netns', 'add', ns])
  sh('ip', ['-n', NS[0], 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS[1]])
  NS.forEach((ns, i) => {
    sh('ip', ['-n', ns, 'addr', 'add', `${IP[i]}/24`, 'dev', 'eth0'])
    sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up'])
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
    shape(ns, 'eth0', mbit, 100)
    if (values['min-tso-segs'] !== undefined) sh('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv4.tcp_min_tso_segs=${values['min-tso-segs']}`])
  })
  const root = mkdtempSync(join(tmpdir(), 'imgp2p-stream-cpu-'))
  try {
    const extra = ['--enable-perf', '--neighbours', '0']
    const a = await startDaemonProcess({ dataDir: join(root, 'a'), listen: [`/ip4/${IP[0]}/tcp/4001`], wrapper: ['ip', 'netns', 'exec', NS[0]], extraArgs: extra })
    const b = await startDaemonProcess({ dataDir: join(root, 'b'), listen: [`/ip4/${IP[1]}/tcp/4001`], peers: [a.addrs[0]], wrapper: ['ip', 'netns', 'exec', NS[1]], extraArgs: extra })
    try {
      await new Promise(resolve => setTimeout(resolve, 2000))
      const before = [cpuSeconds(a.proc.pid), cpuSeconds(b.proc.pid)]
      const r = await callDaemon<{ bytes: number, seconds: number }>(join(root, 'b'), 'perf', { peer: a.peerId, bytes })
      const after = [cpuSeconds(a.proc.pid), cpuSeconds(b.proc.pid)]
      process.stdout.write(`imgp2p stream: ${(r.bytes / r.seconds / 1e6).toFixed(2)} MB/s; CPU sender ${(after[0] - before[0]).toFixed(2)} s, receiver ${(after[1] - before[1]).toFixed(2)} s\n`)
    } finally {
      await a.stop()
      await b.stop()
    }
    // The references: Node's TLS on a plain socket, then plain TCP: same bytes, same link.
    const fixtures = join(repoRoot(), 'test', 'fixtures')
    const tlsOpts = `{ key: readFileSync(${JSON.stringify(join(fixtures, 'tls-key.pem'))}), cert: readFileSync(${JSON.stringify(join(fixtures, 'tls-cert.pem'))}) }, `
    for (const [name, mod, serverOpts, clientOpts] of [
      ['Node TLS, plain socket', 'tls', tlsOpts, ', rejectUnauthorized: false'],
      ['plain TCP (no encryption)', 'net', '', '']
    ]) {
      const server = join(root, `server-${mod}.mjs`)
      const client = join(root, `client-${mod}.mjs`)
      writeFileSync(server, `import m from 'node:${mod}'; import { readFileSync } from 'node:fs'
const s = m.createServer(${serverOpts}sock => {
  let left = ${bytes}; const buf = Buffer.alloc(65536)
  const go = () => { while (left > 0) { left -= buf.length; if (!sock.write(buf)) return sock.once('drain', go) } sock.end() }
  go()
})
s.listen(5000, ${JSON.stringify(IP[0])}, () => { process.stdout.write('ready\\n') })`)
      writeFileSync(client, `import m from 'node:${mod}'
const t0 = performance.now(); const c0 = process.cpuUsage(); let n = 0; let ev = 0
const s = m.connect({ host: ${JSON.stringify(IP[0])}, port: 5000${clientOpts} })
s.on('data', d => { n += d.length; ev++ })
s.on('end', () => { const c = process.cpuUsage(c0); process.stdout.write(JSON.stringify({ mbs: n / ((performance.now() - t0) / 1000) / 1e6, cpu: (c.user + c.system) / 1e6, sys: c.system / 1e6, reads: ev })) })`)
      const srv = spawn('ip', ['netns', 'exec', NS[0], process.execPath, server], { stdio: ['ignore', 'pipe', 'inherit'] })
      try {
        await new Promise(resolve => srv.stdout.once('data', resolve))
        const s0 = cpuSeconds(srv.pid)
        const out = JSON.parse(sh('ip', ['netns', 'exec', NS[1], process.execPath, client], { timeoutMs: 600_000 })) as { mbs: number, cpu: number, sys: number, reads: number }
        process.stdout.write(`${name}: ${out.mbs.toFixed(2)} MB/s; CPU sender ${(cpuSeconds(srv.pid) - s0).toFixed(2)} s, receiver ${out.cpu.toFixed(2)} s (system ${out.sys.toFixed(2)} s, ${out.reads} reads)\n`)
      } finally {
        srv.kill()
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

process.once('SIGINT', () => { cleanup(); process.exit(130) })
main().then(() => { cleanup() }, (err: Error) => { cleanup(); process.stderr.write(`stream-cpu: ${err.message}\n`); process.exit(1) })

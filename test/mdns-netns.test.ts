/**
 * `imgp2p daemon --mdns`: two hosts on one LAN, given no --peer, find each
 * other and move an image. The LAN is a bridge in network namespaces this
 * test creates (multicast never leaves them). Needs root and `ip netns`;
 * skips otherwise.
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createTopology, deleteNamespace, emptyTopology, listNamespaces, namespacePids } from '../bench/cluster/topology.js'
import { sh } from '../bench/cluster/sys.js'
import { BIN, startDaemonProcess, type DaemonProcess } from '../src/cli/daemon-process.js'
import { netnsUnavailable, sha256File, writeImage } from './helpers.js'

const reason = netnsUnavailable()
if (reason !== undefined) console.warn(`mDNS test skipped: ${reason}`)

describe.skipIf(reason !== undefined)('mDNS on a LAN', () => {
  it('finds the only peer that holds the image without any --peer', async () => {
    const prefix = `i2pm-${process.pid}-`
    const topo = emptyTopology({ prefix, hosts: 2, switches: 1, hostMbit: 1000, frontMbit: 1000, islMbit: 0, queueMs: 30, tcpCc: '', notsentLowat: 0 })
    const dir = await mkdtemp(join(tmpdir(), 'imgp2p-mdns-'))
    const daemons: DaemonProcess[] = []
    try {
      createTopology(topo.opts, topo)
      // Link-local multicast needs a route; these namespaces have no default one.
      for (const h of topo.hosts) sh('ip', ['-n', h.ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0'])
      for (const h of topo.hosts) {
        daemons.push(await startDaemonProcess({
          dataDir: join(dir, h.name),
          listen: [`/ip4/${h.ip}/tcp/4001`],
          extraArgs: ['--mdns'],
          wrapper: ['ip', 'netns', 'exec', h.ns]
        }))
      }
      const image = join(dir, 'image.raw')
      await writeImage(image, 3 * 1024 * 1024)
      const cli = (args: string[]): { code: number | null, stdout: string, stderr: string } => {
        const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 })
        return { code: r.status, stdout: r.stdout, stderr: r.stderr }
      }
      const add = cli(['add', image, '--data-dir', join(dir, 'h1')])
      expect(add.code, add.stderr).toBe(0)
      const cid = add.stdout.trim().split('\n').at(-1) as string
      const out = join(dir, 'out.raw')
      const pull = cli(['pull', cid, '--out', out, '--data-dir', join(dir, 'h2'), '--timeout', '30'])
      expect(pull.code, pull.stderr).toBe(0)
      expect(await sha256File(out)).toBe(await sha256File(image))
    } finally {
      for (const d of daemons) await d.stop()
      for (const ns of topo.namespaces) {
        for (const pid of namespacePids(ns)) {
          try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
        }
      }
      for (const ns of [...topo.namespaces].reverse()) deleteNamespace(ns)
      await rm(dir, { recursive: true, force: true })
    }
    expect(listNamespaces(prefix)).toEqual([])
  }, 90_000)
})

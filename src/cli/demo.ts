/**
 * `imgp2p demo` (and `npm start`): a small swarm on loopback. One origin and
 * several hosts run as real daemon processes with their own data dirs; the
 * origin adds a generated VM-like image and every host pulls it at once, as
 * a cloud manager deploying N VMs would.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { NodeStatus, PullResult } from '../node/node.js'
import { writeNewSwarmKey } from '../node/swarm-key.js'
import { sha256File, writeSampleImage } from '../util/sample-image.js'
import { formatBytes } from '../util/size.js'
import { callDaemon } from './control-client.js'
import { startDaemonProcess, type DaemonProcess } from './daemon-process.js'

export interface DemoOptions {
  hosts: number
  size: number
}

export async function runDemo (opts: DemoOptions): Promise<number> {
  const root = await mkdtemp(join(tmpdir(), 'imgp2p-demo-'))
  const daemons: DaemonProcess[] = []
  const say = (s: string): void => { process.stdout.write(s + '\n') }
  try {
    const image = join(root, 'image.raw')
    await writeSampleImage(image, opts.size, { zeroEvery: 4 })
    const want = await sha256File(image)
    say(`demo: ${opts.hosts} hosts + 1 origin on 127.0.0.1, image ${formatBytes(opts.size)} (a quarter of it zeros, like a fresh VM disk)`)

    // As a cloud should run it: a swarm closed to the hosts holding its key.
    const keyFile = join(root, 'swarm.key')
    const key = await writeNewSwarmKey(keyFile)
    const closed = ['--swarm-key', keyFile]
    const origin = await startDaemonProcess({ dataDir: join(root, 'origin'), origin: true, extraArgs: closed })
    daemons.push(origin)
    const originAddr = origin.addrs[0]
    const hosts = await Promise.all(Array.from({ length: opts.hosts }, async (_, i) => await startDaemonProcess({ dataDir: join(root, `host${i + 1}`), peers: [originAddr], extraArgs: closed })))
    daemons.push(...hosts)
    say(`origin ${originAddr}; swarm closed to key ${key.fingerprint}`)

    const added = await callDaemon<{ cid: string }>(join(root, 'origin'), 'add', { file: image })
    say(`added ${added.cid}`)
    // Give the hosts a moment to connect to the origin, as hypervisors would be long before a deploy.
    await new Promise(resolve => setTimeout(resolve, 1000))

    const t0 = Date.now()
    const results = await Promise.all(hosts.map(async (_, i) => {
      const dir = join(root, `host${i + 1}`)
      const out = join(dir, 'vm-disk.raw')
      const r = await callDaemon<PullResult>(dir, 'pull', { cid: added.cid, out, timeoutMs: 60_000 })
      return { host: `host${i + 1}`, seconds: (Date.now() - t0) / 1000, path: r.path }
    }))
    const makespan = (Date.now() - t0) / 1000

    let ok = true
    say('host     seconds   MB/s    sha256')
    for (const r of results) {
      const match = (await sha256File(r.path)) === want
      ok &&= match
      say(`${r.host.padEnd(8)} ${r.seconds.toFixed(2).padStart(7)}  ${(opts.size / 1e6 / r.seconds).toFixed(1).padStart(6)}    ${match ? 'ok' : 'MISMATCH'}`)
    }
    const st = await callDaemon<NodeStatus>(join(root, 'origin'), 'status')
    say(`makespan ${makespan.toFixed(2)} s; origin sent ${formatBytes(st.bytesSent)} = ${(st.bytesSent / opts.size).toFixed(2)} x the image for ${opts.hosts} hosts`)
    say(ok ? 'every host holds a byte-identical image' : 'SOME HOSTS HAVE A WRONG IMAGE')
    return ok ? 0 : 1
  } finally {
    await Promise.all(daemons.map(async d => { await d.stop() }))
    await rm(root, { recursive: true, force: true })
  }
}

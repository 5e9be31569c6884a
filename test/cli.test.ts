/**
 * The CLI driven as an operator drives it: daemon processes, `add`,
 * `pull --out`, `ls`, `status`, `rm`, and the one-line errors with their
 * exit codes.
 */
import { spawnSync } from 'node:child_process'
import { chmod, mkdir, open, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, startDaemonProcess, type DaemonProcess } from '../src/cli/daemon-process.js'
import { runCommand, sha256File, tempDir, textChunk, waitFor, writeImage, type Run } from './helpers.js'

async function cli (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return await runCommand(process.execPath, [BIN, ...args], env)
}

/**
 * Run `fn` with a 4 MiB tmpfs mounted at `path`, standing in for a full
 * disk; mounting needs root, as CI has, and the test is skipped without it.
 */
async function onTinyFs (ctx: { skip: () => void }, path: string, fn: (path: string) => Promise<void>): Promise<void> {
  await mkdir(path)
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', path]).status !== 0) { ctx.skip(); return }
  try {
    await fn(path)
  } finally {
    spawnSync('umount', ['-l', path])
  }
}

async function withDaemon (opts: Parameters<typeof startDaemonProcess>[0], fn: (d: DaemonProcess) => Promise<void>): Promise<void> {
  const d = await startDaemonProcess(opts)
  try {
    await fn(d)
  } finally {
    await d.stop()
  }
}

const MiB = 1024 * 1024
let dir: string
let cleanup: () => Promise<void>
let origin: DaemonProcess
let hosts: DaemonProcess[]
let image: string
let cid: string

describe('imgp2p CLI', () => {
  beforeAll(async () => {
    ({ path: dir, cleanup } = await tempDir('imgp2p-cli-'))
    image = join(dir, 'disk.raw')
    await writeImage(image, 12 * MiB + 777, { zeroEvery: 3 })
    origin = await startDaemonProcess({ dataDir: join(dir, 'origin'), origin: true })
    // One host gets the origin's address without /p2p/<id>, as operators often copy it.
    const bare = origin.addrs[0].replace(/\/p2p\/.*$/, '')
    hosts = await Promise.all([1, 2].map(async i => await startDaemonProcess({ dataDir: join(dir, `h${i}`), peers: [i === 1 ? origin.addrs[0] : bare] })))
  })
  afterAll(async () => {
    await Promise.all([origin, ...(hosts ?? [])].map(async d => { await d?.stop() }))
    await cleanup?.()
  })

  it('adds an image and prints its CID as the last line', async () => {
    const r = await cli(['add', image, '--data-dir', join(dir, 'origin')])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    cid = r.stdout.trim().split('\n').at(-1) as string
    expect(cid).toMatch(/^bafyrei[a-z2-7]+$/)
    const ls = await cli(['ls', '--json', '--data-dir', join(dir, 'origin')])
    expect(JSON.parse(ls.stdout)).toEqual([expect.objectContaining({ cid, complete: true, size: 12 * MiB + 777 })])
  })

  it('pulls it on two hosts at once with --out, byte-identical', async () => {
    const want = await sha256File(image)
    const runs = await Promise.all(hosts.map(async (_, i) => await cli(['pull', cid, '--out', join(dir, `vm${i}.raw`), '--data-dir', join(dir, `h${i + 1}`), '--timeout', '30'])))
    for (const [i, r] of runs.entries()) {
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout.trim()).toBe(join(dir, `vm${i}.raw`))
      expect(await sha256File(join(dir, `vm${i}.raw`))).toBe(want)
    }
  })

  it('pulls a cached image again as a local copy, with JSON progress', async () => {
    const r = await cli(['pull', cid, '--out', join(dir, 'again.raw'), '--data-dir', join(dir, 'h1'), '--json'])
    expect(r.code, r.stderr).toBe(0)
    const last = JSON.parse(r.stdout.trim().split('\n').at(-1) as string)
    expect(['copy', 'reflink']).toContain(last.method)
    expect(await sha256File(join(dir, 'again.raw'))).toBe(await sha256File(image))
  })

  it('verify finds a chunk damaged on disk, stops serving it, and the next pull fetches just that chunk', async () => {
    const h1 = join(dir, 'h1')
    const cached = join(h1, 'images', cid)
    const sound = await cli(['verify', '--data-dir', h1])
    expect(sound.code, sound.stderr).toBe(0)
    expect(sound.stdout).toMatch(new RegExp(`^${cid}  complete, \\d+ chunks checked, all sound$`, 'm'))

    // A failing disk flips a byte in a chunk that holds data (zero chunks are holes, never read).
    const { chunkSize } = JSON.parse((await cli(['ls', '--json', '--data-dir', h1])).stdout)[0]
    const bytes = await readFile(cached)
    let bad = 0
    while (bytes.subarray(bad * chunkSize, (bad + 1) * chunkSize).every(b => b === 0)) bad++
    const fh = await open(cached, 'r+')
    await fh.write(Buffer.from([bytes[bad * chunkSize + 5] ^ 1]), 0, 1, bad * chunkSize + 5)
    await fh.close()

    const r = await cli(['verify', cid, '--data-dir', h1])
    expect(r.code).toBe(1)
    expect(r.stdout.trim()).toMatch(new RegExp(`^${cid}  complete, 1 of \\d+ chunks damaged \\(${bad}\\); now partial, lacking them$`))
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(new RegExp(`^imgp2p: 1 chunk of ${cid} damaged on disk, no longer served; \`imgp2p pull CID\` fetches just those again`))
    const ls = JSON.parse((await cli(['ls', '--json', '--data-dir', h1])).stdout)
    expect(ls[0]).toMatchObject({ cid, complete: false, haveCount: ls[0].chunkCount - 1 })
    const status = await cli(['status', '--data-dir', h1])
    expect(status.stdout).toMatch(/^verify +\d+ chunks read back, 1 found damaged \(imgp2p verify\)$/m)

    const pull = await cli(['pull', cid, '--out', join(dir, 'repaired.raw'), '--data-dir', h1, '--timeout', '30', '--json'])
    expect(pull.code, pull.stderr).toBe(0)
    const res = JSON.parse(pull.stdout.trim().split('\n').at(-1) as string)
    expect(res.bytesDownloaded).toBe(chunkSize)
    expect(await sha256File(join(dir, 'repaired.raw'))).toBe(await sha256File(image))
    expect(await sha256File(cached)).toBe(await sha256File(image))
    const after = await cli(['verify', '--json', '--data-dir', h1])
    expect(after.code).toBe(0)
    expect(JSON.parse(after.stdout)).toEqual([{ cid, state: 'complete', checked: expect.any(Number), bad: [] }])
  })

  it('reports status with peers and traffic', async () => {
    const r = await cli(['status', '--json', '--data-dir', join(dir, 'origin')])
    expect(r.code).toBe(0)
    const s = JSON.parse(r.stdout)
    expect(s.peers.length).toBeGreaterThanOrEqual(2)
    expect(s.bytesSent).toBeGreaterThan(0)
    expect(s.images[0].cid).toBe(cid)
    // The compression gate watches this daemon's CPU; which way it decided depends on the machine's load.
    expect(s.cpu.compressedChunks).toBeTypeOf('boolean')
    const text = await cli(['status', '--data-dir', join(dir, 'origin')])
    expect(text.stdout).toMatch(/^compress +compressed chunks (taken|refused, the CPU is the limit)(: the network thread got [\d.]+ of a core when it wanted one, [\d.]+ of the time)?$/m)
  })

  it('rejects a malformed CID with one line and exit 2', async () => {
    const r = await cli(['pull', 'not-a-cid', '--data-dir', join(dir, 'h1')])
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/not a valid image CID/)
  })

  it('says when no daemon runs for the data dir (exit 5)', async () => {
    const r = await cli(['pull', cid, '--data-dir', join(dir, 'nobody')])
    expect(r.code).toBe(5)
    expect(r.stderr).toMatch(/no imgp2p daemon is running for data dir/)
  })

  it('gives up with exit 4 when no peer has the image within --timeout', async () => {
    const unknown = 'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
    const r = await cli(['pull', unknown, '--data-dir', join(dir, 'h1'), '--timeout', '2'])
    expect(r.code).toBe(4)
    // Progress lines may precede it; the error itself is one line, and the last.
    const errors = r.stderr.trim().split('\n').filter(l => l.startsWith('imgp2p:'))
    expect(errors).toHaveLength(1)
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^imgp2p: no peer has image/)
  })

  it('refuses an unwritable --out before fetching anything (exit 7)', async () => {
    const locked = join(dir, 'locked')
    await mkdir(locked)
    await chmod(locked, 0o500)
    const r = await cli(['pull', cid, '--out', join(dir, 'no', 'such', 'dir', 'x.raw'), '--data-dir', join(dir, 'h2')])
    expect(r.code).toBe(7)
    expect(r.stderr).toMatch(/cannot write --out/)
  })

  it('refuses --no-compress with --compress-always in one line (exit 64)', async () => {
    const r = await cli(['daemon', '--no-compress', '--compress-always', '--data-dir', join(dir, 'contradiction')])
    expect(r.code).toBe(64)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/--no-compress and --compress-always/)
  })

  it('refuses an --upload-mbit or --download-mbit that is not a rate in one line (exit 64)', async () => {
    const r = await cli(['daemon', '--upload-mbit', '0', '--data-dir', join(dir, 'badcap')])
    expect(r.code).toBe(64)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/--upload-mbit wants the upload cap in Mbit\/s \(a number > 0\), got "0"/)
    const d = await cli(['daemon', '--download-mbit', 'fast', '--data-dir', join(dir, 'badcap')])
    expect(d.code).toBe(64)
    expect(d.stderr.trim().split('\n')).toHaveLength(1)
    expect(d.stderr).toMatch(/--download-mbit wants the download cap in Mbit\/s \(a number > 0\), got "fast"/)
  })

  it('refuses a --cache-max that is not a size in one line (exit 64)', async () => {
    const r = await cli(['daemon', '--cache-max', 'lots', '--data-dir', join(dir, 'badcache')])
    expect(r.code).toBe(64)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/--cache-max: not a size: "lots"/)
  })

  it('reports a missing file on add in one line', async () => {
    const r = await cli(['add', join(dir, 'missing.raw'), '--data-dir', join(dir, 'origin')])
    expect(r.code).not.toBe(0)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/missing\.raw/)
  })

  it('removes an image with rm', async () => {
    await writeFile(join(dir, 'small.raw'), 'hello imgp2p\n')
    const add = await cli(['add', join(dir, 'small.raw'), '--data-dir', join(dir, 'h2')])
    const small = add.stdout.trim().split('\n').at(-1) as string
    const rm = await cli(['rm', small, '--data-dir', join(dir, 'h2')])
    expect(rm.code, rm.stderr).toBe(0)
    const ls = await cli(['ls', '--json', '--data-dir', join(dir, 'h2')])
    expect(JSON.parse(ls.stdout).map((i: { cid: string }) => i.cid)).not.toContain(small)
    const again = await cli(['rm', small, '--data-dir', join(dir, 'h2')])
    expect(again.code).not.toBe(0)
  })

  it('fails with exit 6 and one line when --out is on a full disk, leaving nothing behind', async (ctx) => {
    await onTinyFs(ctx, join(dir, 'small-fs'), async (small) => {
      // h1 has the image cached (the copy path); h3 must download it (the tee path).
      await withDaemon({ dataDir: join(dir, 'h3'), peers: [origin.addrs[0]] }, async () => {
        for (const host of ['h1', 'h3']) {
          const r = await cli(['pull', cid, '--out', join(small, `${host}.raw`), '--data-dir', join(dir, host), '--timeout', '30'])
          expect(r.code, r.stderr).toBe(6)
          const errors = r.stderr.trim().split('\n').filter(l => l.startsWith('imgp2p:'))
          expect(errors).toHaveLength(1)
          expect(errors[0]).toMatch(/no space left/)
          expect(spawnSync('ls', ['-A', small]).stdout.toString().trim()).toBe('')
        }
      })
    })
  })

  it('refuses at once, fetching nothing, a pull whose image does not fit the cache\'s file system (exit 6)', async (ctx) => {
    await onTinyFs(ctx, join(dir, 'tiny-data'), async (tiny) => {
      await withDaemon({ dataDir: tiny, peers: [origin.addrs[0]] }, async () => {
        const r = await cli(['pull', cid, '--data-dir', tiny, '--timeout', '30'])
        expect(r.code, r.stderr).toBe(6)
        const errors = r.stderr.trim().split('\n').filter(l => l.startsWith('imgp2p:'))
        expect(errors).toHaveLength(1)
        expect(errors[0]).toMatch(/^imgp2p: no space left on device for the cache: the pull needs [\d.]+ MiB more on the file system of .*tiny-data\/partial, which has [\d.]+ MiB free; nothing was fetched$/)
        const s = JSON.parse((await cli(['status', '--json', '--data-dir', tiny])).stdout)
        expect(s.bytesReceived).toBe(0)
        expect(s.pulls.failed).toBe(1)
      })
    })
  })

  it('with --verbose, the daemon logs a pull from asked to on disk', async () => {
    const h4 = await startDaemonProcess({ dataDir: join(dir, 'h4'), peers: [origin.addrs[0]], extraArgs: ['--verbose'] })
    try {
      const r = await cli(['pull', cid, '--out', join(dir, 'h4.raw'), '--data-dir', join(dir, 'h4'), '--timeout', '30'])
      expect(r.code, r.stderr).toBe(0)
      const log = h4.stderr()
      // Every line starts with its time, so a deployment's timeline can be read across hosts.
      for (const re of [/pull \S+: asked/, /pull \S+: manifest after \d+ ms/, /link \S+ up/, /first chunk from \S+, \d+ of \d+ held, \d+ ms into the download/, /pull \S+: complete and on disk after \d+ ms/]) {
        expect(log).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+Z .*${re.source}`, 'm'))
      }
    } finally {
      await h4.stop()
    }
  })

  it('keeps the control socket private to its user', async () => {
    const s = await stat(join(dir, 'origin', 'imgp2p.sock'))
    expect(s.mode & 0o777).toBe(0o600)
  })
})

describe('imgp2p daemon: compressed chunks', () => {
  it('moves a text image compressed between two daemons, and raw to one started with --no-compress', async () => {
    const t = await tempDir('imgp2p-cli-z-')
    const daemons: DaemonProcess[] = []
    try {
      const img = join(t.path, 'text.raw')
      await writeFile(img, textChunk(6 * MiB))
      // --compress-always: on a loaded test machine the default would rightly refuse compressed chunks (policy/compression-gate.ts).
      const a = await startDaemonProcess({ dataDir: join(t.path, 'a'), extraArgs: ['--compress-always'] })
      daemons.push(a)
      daemons.push(await startDaemonProcess({ dataDir: join(t.path, 'b'), peers: [a.addrs[0]], extraArgs: ['--compress-always', '--upload-mbit', '1000'] }))
      daemons.push(await startDaemonProcess({ dataDir: join(t.path, 'c'), peers: [a.addrs[0]], extraArgs: ['--no-compress', '--cache-max', '64MiB', '--download-mbit', '800'] }))
      const id = (await cli(['add', img, '--data-dir', join(t.path, 'a')])).stdout.trim().split('\n').at(-1) as string
      const received = async (host: string): Promise<number> => {
        const r = await cli(['pull', id, '--out', join(t.path, `${host}.raw`), '--data-dir', join(t.path, host), '--timeout', '30'])
        expect(r.code, r.stderr).toBe(0)
        // The user sees what crossed the network against what arrived.
        expect(r.stderr).toMatch(/: 6\.0 MiB of chunks, [\d.]+ [KM]i?B on the wire\n$/)
        expect(await sha256File(join(t.path, `${host}.raw`))).toBe(await sha256File(img))
        return (JSON.parse((await cli(['status', '--json', '--data-dir', join(t.path, host)])).stdout) as { bytesReceived: number }).bytesReceived
      }
      expect(await received('b')).toBeLessThan(3 * MiB)
      // status says what the host takes now; with --no-compress it says nothing of it.
      const cpuOf = async (host: string): Promise<unknown> => (JSON.parse((await cli(['status', '--json', '--data-dir', join(t.path, host)])).stdout) as { cpu?: unknown }).cpu
      expect(await cpuOf('b')).toMatchObject({ compressedChunks: true, always: true })
      expect((await cli(['status', '--data-dir', join(t.path, 'b')])).stdout).toMatch(/^compress +compressed chunks taken \(--compress-always/m)
      // c may fetch from a and b, and both must send it every byte as it is.
      expect(await received('c')).toBeGreaterThanOrEqual(6 * MiB)
      expect(await cpuOf('c')).toBeUndefined()
      expect((await cli(['status', '--data-dir', join(t.path, 'c')])).stdout).not.toMatch(/^compress/m)
      // --cache-max: status tells what the cache holds against it, once the pass after the pull ran.
      await waitFor(async () => /^cache +6\.0 MiB of 64\.0 MiB \(--cache-max/m.test((await cli(['status', '--data-dir', join(t.path, 'c')])).stdout), 10_000, 'the cache line')
      expect((await cli(['status', '--data-dir', join(t.path, 'b')])).stdout).not.toMatch(/^cache/m)
      expect((await cli(['status', '--data-dir', join(t.path, 'b')])).stdout).toMatch(/^upload +capped at 1000 Mbit\/s of chunk data/m)
      expect((await cli(['status', '--data-dir', join(t.path, 'c')])).stdout).not.toMatch(/^upload/m)
      expect((await cli(['status', '--data-dir', join(t.path, 'c')])).stdout).toMatch(/^download capped at 800 Mbit\/s of chunk data \(--download-mbit\)$/m)
      expect((await cli(['status', '--data-dir', join(t.path, 'b')])).stdout).not.toMatch(/^download/m)
    } finally {
      await Promise.all(daemons.map(async d => { await d.stop() }))
      await t.cleanup()
    }
  }, 60_000)
})

describe('imgp2p daemon: closed swarm', () => {
  it('keygen, then --swarm-key: members pull, an open daemon is refused and the operator told without --verbose', async () => {
    const t = await tempDir('imgp2p-cli-key-')
    const daemons: DaemonProcess[] = []
    try {
      const key = join(t.path, 'swarm.key')
      const gen = await cli(['keygen', key])
      expect(gen.code, gen.stderr).toBe(0)
      const fingerprint = /fingerprint ([0-9a-f]{16})/.exec(gen.stdout)?.[1] as string
      const a = await startDaemonProcess({ dataDir: join(t.path, 'a'), extraArgs: ['--swarm-key', key] })
      daemons.push(a)
      daemons.push(await startDaemonProcess({ dataDir: join(t.path, 'b'), peers: [a.addrs[0]], extraArgs: ['--swarm-key', key] }))
      const outsider = await startDaemonProcess({ dataDir: join(t.path, 'c'), peers: [a.addrs[0]] })
      daemons.push(outsider)
      const img = join(t.path, 'disk.raw')
      await writeImage(img, 2 * MiB + 3)
      const id = (await cli(['add', img, '--data-dir', join(t.path, 'a')])).stdout.trim().split('\n').at(-1) as string
      const pulled = await cli(['pull', id, '--out', join(t.path, 'vm.raw'), '--data-dir', join(t.path, 'b'), '--timeout', '20'])
      expect(pulled.code, pulled.stderr).toBe(0)
      expect(await sha256File(join(t.path, 'vm.raw'))).toBe(await sha256File(img))
      await waitFor(() => a.stderr().includes(`swarm: refused a connection from ${outsider.peerId}`), 15_000, 'the refusal in the log')
      expect(a.stderr()).toContain(`(key ${fingerprint} here)`)
      expect((await cli(['status', '--data-dir', join(t.path, 'a')])).stdout)
        .toMatch(new RegExp(`^swarm +closed to hosts holding key ${fingerprint}; refused [1-9]\\d* connections?, the last ${outsider.peerId} at 127\\.0\\.0\\.1:\\d+ at \\S+: `, 'm'))
      expect((await cli(['status', '--data-dir', join(t.path, 'c')])).stdout).toMatch(/^swarm +open: any host that reaches this daemon may join \(--swarm-key FILE closes it\)$/m)
      const refused = await cli(['pull', id, '--out', join(t.path, 'no.raw'), '--data-dir', join(t.path, 'c'), '--timeout', '2'])
      expect(refused.code).toBe(4)
    } finally {
      await Promise.all(daemons.map(async d => { await d.stop() }))
      await t.cleanup()
    }
  }, 60_000)

  it('refuses a missing or world-readable key file in one line (exit 64) before listening', async () => {
    const t = await tempDir('imgp2p-cli-badkey-')
    try {
      const missing = await cli(['daemon', '--swarm-key', join(t.path, 'none.key'), '--data-dir', join(t.path, 'd')])
      expect(missing.code).toBe(64)
      expect(missing.stderr.trim().split('\n')).toHaveLength(1)
      expect(missing.stderr).toMatch(/--swarm-key .*none\.key: no such file \(`imgp2p keygen FILE` makes one\)/)
      const open = join(t.path, 'open.key')
      await writeFile(open, 'ab'.repeat(32) + '\n')
      await chmod(open, 0o644)
      const r = await cli(['daemon', '--swarm-key', open, '--data-dir', join(t.path, 'd')])
      expect(r.code).toBe(64)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(r.stderr).toMatch(/other users can read it; chmod 600/)
      expect(r.stdout).not.toMatch(/listening/)
    } finally {
      await t.cleanup()
    }
  }, 30_000)
})

describe('imgp2p daemon: --metrics', () => {
  it('serves Prometheus text at the address it prints, and refuses a bad address in one line (exit 64)', async () => {
    const t = await tempDir('imgp2p-cli-metrics-')
    let d: DaemonProcess | undefined
    try {
      d = await startDaemonProcess({ dataDir: join(t.path, 'a'), extraArgs: ['--metrics', '127.0.0.1:0'] })
      expect(d.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
      const res = await fetch(d.metricsUrl as string)
      expect(res.status).toBe(200)
      const text = await res.text()
      expect(text).toContain(`imgp2p_info{peer_id="${d.peerId}",zone=""} 1\n`)
      expect(text).toMatch(/^imgp2p_pulls_total\{result="ok"\} 0$/m)
      expect((await cli(['status', '--data-dir', join(t.path, 'a')])).stdout).toMatch(/^pulls +0 done, 0 failed$/m)
      const bad = await cli(['daemon', '--metrics', '9464', '--data-dir', join(t.path, 'b')])
      expect(bad.code).toBe(64)
      expect(bad.stderr.trim().split('\n')).toHaveLength(1)
      expect(bad.stderr).toMatch(/--metrics wants HOST:PORT \(e\.g\. 127\.0\.0\.1:9464\), got "9464"/)
    } finally {
      await d?.stop()
      await t.cleanup()
    }
  }, 30_000)
})

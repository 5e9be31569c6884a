/**
 * npm run bench:pull -- [--size 1GiB] [--chunk-size 1MiB] [--rounds 2] [--raw-only] [--rate 100mbit]
 *
 * Two daemon processes on loopback. Measures, in the same run and between
 * the same two processes: the raw throughput of one bare libp2p stream
 * (TCP + TLS + yamux, /imgp2p/perf) and an `imgp2p pull` of an image of the
 * same size (verified, written to disk, materialised at --out). Raw runs
 * bracket the pulls so that machine noise hits both alike. With --rate (as
 * root) both run in a namespace of their own whose loopback is shaped to that
 * rate (shaped-loopback.ts): CPU per byte at a host's link rate.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { callDaemon } from '../src/cli/control-client.js'
import { startDaemonProcess, type DaemonProcess } from '../src/cli/daemon-process.js'
import { sha256File, writeSampleImage } from '../src/util/sample-image.js'
import type { PullResult } from '../src/node/node.js'
import { parseSize } from '../src/util/size.js'
import { insideShapedLoopback, rerunShaped } from './shaped-loopback.js'

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1GiB' },
    'chunk-size': { type: 'string', default: '512KiB' },
    rounds: { type: 'string', default: '2' },
    // Profiling aid: leave out the raw runs so a --cpu-prof shows the pull alone.
    'no-raw': { type: 'boolean', default: false },
    // Pull into the cache only, without materialising --out (one disk write per chunk instead of two).
    'no-out': { type: 'boolean', default: false },
    // Profiling aid: raw runs only.
    'raw-only': { type: 'boolean', default: false },
    'daemon-arg': { type: 'string', multiple: true },
    rate: { type: 'string' }
  }
})
const size = parseSize(values.size as string)
const chunkSize = parseSize(values['chunk-size'] as string)
const rounds = Number(values.rounds)
const daemonArgs = (values['daemon-arg'] as string[] | undefined) ?? []

async function peakRssMiB (pid: number | undefined): Promise<number> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  const m = /VmHWM:\s+(\d+) kB/.exec(s)
  return m == null ? NaN : Number(m[1]) / 1024
}

async function cpuSeconds (pid: number | undefined): Promise<number> {
  const { user, system } = await cpuSplit(pid)
  return user + system
}

async function cpuSplit (pid: number | undefined): Promise<{ user: number, system: number }> {
  const s = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
  return { user: Number(f[11]) / 100, system: Number(f[12]) / 100 }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/**
 * A pull writes every byte twice (cache and --out); the raw stream writes
 * nothing. When those writes must first reclaim page cache, they cost up to
 * 4 s of kernel time per GiB on these VMs (BENCHMARKS.md), so say so.
 */
async function warnIfPageCacheFull (bytes: number): Promise<void> {
  const info = await readFile('/proc/meminfo', 'utf8').catch(() => '')
  const free = Number(/MemFree:\s+(\d+) kB/.exec(info)?.[1] ?? NaN) * 1024
  if (free < 4 * bytes) {
    console.log(`note: only ${(free / 2 ** 30).toFixed(1)} GiB of memory is free; the pull's writes will reclaim page cache and the ratio will read low. For steady figures run \`sync; echo 3 > /proc/sys/vm/drop_caches\` (as root) first.`)
  }
}

async function main (): Promise<void> {
  await warnIfPageCacheFull(size)
  const root = await mkdtemp(join(tmpdir(), 'imgp2p-bench-'))
  const daemons: DaemonProcess[] = []
  try {
    const image = join(root, 'image.raw')
    // No zero chunks: every byte must cross the wire, as in the raw stream.
    await writeSampleImage(image, size, { seed: 1 })
    const seeder = await startDaemonProcess({ dataDir: join(root, 'seeder'), extraArgs: ['--enable-perf', ...daemonArgs] })
    const puller = await startDaemonProcess({ dataDir: join(root, 'puller'), peers: [seeder.addrs[0]], extraArgs: ['--enable-perf', ...daemonArgs] })
    daemons.push(seeder, puller)
    const { cid } = await callDaemon<{ cid: string }>(join(root, 'seeder'), 'add', { file: image, chunkSize })
    const want = await sha256File(image)
    await rm(image)

    const raw: number[] = []
    const pulls: number[] = []
    const rawCpu: number[] = []
    const pullCpu: number[] = []
    const rawRun = async (): Promise<void> => {
      if (values['no-raw'] === true) return
      const s0 = [await cpuSplit(seeder.proc.pid), await cpuSplit(puller.proc.pid)]
      const r = await callDaemon<{ bytes: number, seconds: number }>(join(root, 'puller'), 'perf', { peer: seeder.peerId, bytes: size })
      const s1 = [await cpuSplit(seeder.proc.pid), await cpuSplit(puller.proc.pid)]
      const c0 = s0.map(x => x.user + x.system)
      const c1 = s1.map(x => x.user + x.system)
      const gb = size / 1e9
      const cpu = c1[0] - c0[0] + c1[1] - c0[1]
      const sys = s1[0].system - s0[0].system + s1[1].system - s0[1].system
      raw.push(r.bytes / r.seconds / 1e6)
      rawCpu.push(cpu / gb)
      console.log(`raw libp2p stream: ${(r.bytes / r.seconds / 1e6).toFixed(0)} MB/s (CPU both ends ${(cpu / gb).toFixed(2)} core-s/GB: sender ${((c1[0] - c0[0]) / gb).toFixed(2)}, receiver ${((c1[1] - c0[1]) / gb).toFixed(2)}; system ${(sys / gb).toFixed(2)} of it)`)
    }
    await rawRun()
    if (values['raw-only'] === true) {
      for (let i = 1; i < rounds; i++) await rawRun()
      console.log(`\nmedian raw ${median(raw).toFixed(0)} MB/s, ${median(rawCpu).toFixed(2)} core-s/GB both ends (${raw.length} runs)`)
      return
    }
    for (let i = 0; i < rounds; i++) {
      const out = join(root, `out${i}.raw`)
      const cpu0 = [await cpuSeconds(seeder.proc.pid), await cpuSeconds(puller.proc.pid)]
      const t0 = performance.now()
      const r = await callDaemon<PullResult>(join(root, 'puller'), 'pull', { cid, out: values['no-out'] === true ? undefined : out, timeoutMs: 120_000 })
      const secs = (performance.now() - t0) / 1000
      const cpu1 = [await cpuSeconds(seeder.proc.pid), await cpuSeconds(puller.proc.pid)]
      pulls.push(size / secs / 1e6)
      const perGB = (cpu1[0] - cpu0[0] + cpu1[1] - cpu0[1]) / (size / 1e9)
      pullCpu.push(perGB)
      console.log(`imgp2p pull:       ${(size / secs / 1e6).toFixed(0)} MB/s (${secs.toFixed(2)} s; CPU seeder ${(cpu1[0] - cpu0[0]).toFixed(1)} s, puller ${(cpu1[1] - cpu0[1]).toFixed(1)} s = ${perGB.toFixed(2)} core-s/GB)`)
      if (await sha256File(r.path) !== want) throw new Error('pulled image differs from the original')
      await callDaemon(join(root, 'puller'), 'rm', { cid })
      await rm(out, { force: true })
      await rawRun()
    }
    if (raw.length === 0) return
    const ratio = median(pulls) / median(raw)
    console.log(`\nimage ${values.size} at ${values['chunk-size']} chunks, ${rounds} pulls, ${raw.length} raw runs`)
    console.log(`median raw ${median(raw).toFixed(0)} MB/s, median pull ${median(pulls).toFixed(0)} MB/s, pull/raw = ${(ratio * 100).toFixed(0)}%`)
    console.log(`CPU per GB, both processes: raw ${median(rawCpu).toFixed(2)} core-s, pull ${median(pullCpu).toFixed(2)} core-s (${(median(pullCpu) / median(rawCpu)).toFixed(2)} x)`)
    console.log(`peak RSS: seeder ${(await peakRssMiB(seeder.proc.pid)).toFixed(0)} MiB, puller ${(await peakRssMiB(puller.proc.pid)).toFixed(0)} MiB`)
    console.log(JSON.stringify({ bench: 'pull', size, chunkSize, rawMBps: raw, pullMBps: pulls, ratio, rawCpuPerGB: rawCpu, pullCpuPerGB: pullCpu }))
  } finally {
    await Promise.all(daemons.map(async d => { await d.stop() }))
    await rm(root, { recursive: true, force: true })
  }
}

async function start (): Promise<void> {
  const rate = values.rate
  if (rate === undefined || insideShapedLoopback()) return await main()
  console.log(`loopback shaped to ${rate} in a network namespace of its own`)
  const args = process.argv.slice(2).filter((a, i, all) => a !== '--rate' && all[i - 1] !== '--rate' && !a.startsWith('--rate='))
  process.exitCode = await rerunShaped(rate, args)
}

start().catch((err: Error) => { console.error(`bench:pull: ${err.message}`); process.exit(1) })

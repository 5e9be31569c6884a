/**
 * Samples every bridge port's byte counters a few times a second during a
 * phase (one `ip -s -j link` per switch, no per-host processes), for link
 * utilisation figures and a timeline chart: per host the bytes it received
 * (tx of its port) and sent (rx of its port), for the front-end its sent bytes.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { Topology } from './topology.js'

const run = promisify(execFile)

export interface Sample { t: number, down: Record<string, number>, up: Record<string, number> }

export interface Timeline { samples: Sample[] }

async function sampleOnce (topo: Topology, t0: number): Promise<Sample> {
  const s: Sample = { t: 0, down: {}, up: {} }
  const names = new Map<string, string>([[`${topo.fe.sw}/${topo.fe.port}`, 'fe'], ...topo.hosts.map(h => [`${h.sw}/${h.port}`, h.name] as [string, string])])
  await Promise.all(topo.switchNs.map(async (ns, sw) => {
    const { stdout } = await run('ip', ['-n', ns, '-s', '-j', 'link', 'show'])
    for (const l of JSON.parse(stdout) as Array<{ ifname: string, stats64?: { tx: { bytes: number }, rx: { bytes: number } } }>) {
      const name = names.get(`${sw}/${l.ifname}`)
      if (name === undefined || l.stats64 === undefined) continue
      s.down[name] = l.stats64.tx.bytes
      s.up[name] = l.stats64.rx.bytes
    }
  }))
  s.t = (performance.now() - t0) / 1000
  return s
}

/** Starts sampling every intervalMs; stop() returns the timeline with counters relative to the first sample. */
export function startSampler (topo: Topology, t0: number, intervalMs = 250): { stop: () => Promise<Timeline> } {
  const samples: Sample[] = []
  let stopped = false
  const loop = (async () => {
    while (!stopped) {
      try { samples.push(await sampleOnce(topo, t0)) } catch {}
      await new Promise(resolve => setTimeout(resolve, intervalMs))
    }
    try { samples.push(await sampleOnce(topo, t0)) } catch {}
  })()
  return {
    stop: async () => {
      stopped = true
      await loop
      const first = samples[0]
      if (first === undefined) return { samples: [] }
      const rel = (a: Record<string, number>, b: Record<string, number>): Record<string, number> =>
        Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - (b[k] ?? 0)]))
      return { samples: samples.map(s => ({ t: s.t, down: rel(s.down, first.down), up: rel(s.up, first.up) })) }
    }
  }
}

/**
 * Link utilisation over a phase: for each host, wire bytes received / what B
 * allows over that host's own duration; for the front-end, bytes sent / what F
 * allows over the makespan. 1.0 = the link never idled.
 */
export function utilisation (tl: Timeline, hostMbit: number, frontMbit: number, perHostS: Record<string, number>, makespanS: number): { hostDownMean: number, hostDownMin: number, frontUp: number } {
  const last = tl.samples[tl.samples.length - 1]
  if (last === undefined) return { hostDownMean: 0, hostDownMin: 0, frontUp: 0 }
  const u = Object.entries(perHostS).map(([h, s]) => (last.down[h] ?? 0) / (hostMbit * 1e6 / 8 * s))
  return {
    hostDownMean: u.reduce((a, b) => a + b, 0) / Math.max(1, u.length),
    hostDownMin: Math.min(...u),
    frontUp: (last.up.fe ?? 0) / (frontMbit * 1e6 / 8 * makespanS)
  }
}

/** Cumulative MiB received per host (and sent by the front-end) against time, as chart series. */
export function timelineSeries (tl: Timeline): Array<{ name: string, color: string, dashed?: boolean, points: Array<[number, number]> }> {
  const hosts = Object.keys(tl.samples[0]?.down ?? {}).filter(h => h !== 'fe').sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))
  const mib = (b: number): number => b / 2 ** 20
  const series = hosts.map((h, i) => ({
    name: i === 0 ? 'hosts (received)' : '',
    color: `hsl(${Math.round(200 + 120 * i / Math.max(1, hosts.length - 1))},70%,45%)`,
    points: tl.samples.map(s => [s.t, mib(s.down[h] ?? 0)] as [number, number])
  }))
  series.push({ name: 'front-end (sent)', color: '#000', dashed: true, points: tl.samples.map(s => [s.t, mib(s.up.fe ?? 0)] as [number, number]) } as typeof series[number])
  return series
}

/** Wire bytes each host received during the phase / image size (headers included): mean and max. */
export function rxPerImage (tl: Timeline, hosts: string[], imageBytes: number): { mean: number, max: number } {
  const last = tl.samples[tl.samples.length - 1]
  const v = hosts.map(h => (last?.down[h] ?? 0) / imageBytes)
  return { mean: v.reduce((a, b) => a + b, 0) / Math.max(1, v.length), max: Math.max(0, ...v) }
}

/** Seconds from the start until each host had received 256 KiB (its first chunk's worth): median and last. */
export function firstBytes (tl: Timeline, hosts: string[]): { medianS: number, maxS: number } {
  const t = hosts.map(h => tl.samples.find(s => (s.down[h] ?? 0) > 256 * 1024)?.t ?? Infinity).sort((a, b) => a - b)
  return { medianS: t[Math.floor(t.length / 2)] ?? NaN, maxS: t[t.length - 1] ?? NaN }
}

/** A markdown table of the runs in the results file (for BENCHMARKS-cluster.md). */
import { cpuFloorRatio, type RunRecord } from './metrics.js'

const f = (x: number | undefined, d = 2): string => x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d)

export function markdownTable (records: RunRecord[]): string {
  const head = '| N | sw | image | chunk | T_min s | HTTP s (x T_min) | imgp2p s (x T_min) | imgp2p mean / max s | FE bytes/img HTTP / imgp2p | ISL bytes/img HTTP / imgp2p | host rx/img | daemon pull CPU s mean (FE) | CPU floor x T_min | RSS MiB max | busy before |\n' +
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|'
  const rows = records.map(r => {
    const h = r.http
    const i = r.imgp2p
    const img = `${r.imageMiB} MiB${r.imageKind !== 'random' ? ` ${r.imageKind}` : ''}`
    const chunk = r.chunkBytes !== null ? `${r.chunkBytes / 1024} KiB` : (i.chunkCount !== undefined && i.chunkCount > 0 ? `${Math.ceil(r.imageBytes / i.chunkCount / 1024)} KiB (default)` : 'default')
    const http = h.ok ? `${f(h.makespanS)} (${f(h.ratio)})` : (h.error === 'disabled' ? 'not run' : 'failed')
    const p2p = i.ok ? `${f(i.makespanS)} (${f(i.ratio)})` : `failed: ${(i.error ?? '').slice(0, 40).replace(/\|/g, '/').replace(/\n/g, ' ')}`
    return `| ${r.hosts} | ${r.switches} | ${img} | ${chunk} | ${f(r.tMinS)} | ${http} | ${p2p} | ${f(i.meanS)} / ${f(i.maxS)} | ` +
      `${f(h.feBytesPerImage)} / ${f(i.feBytesPerImage)} | ${r.switches === 2 ? `${f(h.islBytesPerImage)} / ${f(i.islBytesPerImage)}` : '-'} | ` +
      `${f(i.hostRxPerImage?.mean)} | ${f(i.pullCpuS?.mean)} (${f(i.pullCpuS?.fe)}) | ${f(cpuFloorRatio(r))} | ${f(i.maxRssMiB?.max, 0)} | ${Math.round((r.machine.busyBefore ?? 0) * 100)}% |`
  })
  return [head, ...rows].join('\n')
}

/** The reference bound and the per-run record written to the results file. */
import { describeDuplicates } from '../../src/policy/duplicate-ledger.js'

export const MBIT = 1e6

/**
 * Kumar and Ross: no scheme delivers S bytes from a source with upload F to N
 * hosts with download and upload B before
 *   T_min = max(S/F, S/B, N*S/(F + N*B)).
 */
export function tMin (bytes: number, hosts: number, hostMbit: number, frontMbit: number): number {
  const bits = bytes * 8
  const b = hostMbit * MBIT
  const f = frontMbit * MBIT
  return Math.max(bits / f, bits / b, hosts * bits / (f + hosts * b))
}

export interface Stats { makespanS: number, meanS: number, maxS: number, minS: number }

/** Per-host durations (seconds) and the makespan from the common start. */
export function stats (perHostS: number[], makespanS: number): Stats {
  return {
    makespanS,
    meanS: perHostS.reduce((a, b) => a + b, 0) / perHostS.length,
    maxS: Math.max(...perHostS),
    minS: Math.min(...perHostS)
  }
}

export interface PhaseResult extends Partial<Stats> {
  ok: boolean
  error?: string
  /** makespan / T_min */
  ratio?: number
  /** Front-end interface bytes sent during the phase / image size. */
  feBytesPerImage?: number
  /** Bytes over the inter-switch link (both directions) / image size. */
  islBytesPerImage?: number
  /** Packets dropped by the switches' shaping queues during the phase (TCP losses). */
  switchDrops?: number
  /** TCP retransmissions by the front-end (segments x 1448 B) / image size: part of feBytesPerImage. */
  feRetransPerImage?: number
  /** TCP retransmissions by the hosts (segments x 1448 B), per host / image size. */
  hostRetransPerImage?: number
  /** Hosts whose output's sha256 matched. */
  shaOk?: number
  /** Fraction of all cores busy during the phase (whole machine). */
  cpuBusy?: number
  /** Link utilisation (sampled port counters): hosts' download vs B over their own time, front-end upload vs F over the makespan. */
  linkUse?: { hostDownMean: number, hostDownMin: number, frontUp: number }
  /** Seconds until a host had received its first 256 KiB (median and last host): start-up cost. */
  firstBytes?: { medianS: number, maxS: number }
  /** Wire bytes received per host / image size (TCP/IP headers make ~1.05 the floor). */
  hostRxPerImage?: { mean: number, max: number }
}

export interface Usage { mean: number, max: number, fe: number }

export interface Imgp2pResult extends PhaseResult {
  cid?: string
  /** Chunks in the image, as `imgp2p add` reported. */
  chunkCount?: number
  /** The front-end daemon's own bytesSent counter (application bytes, whole life) / image size. */
  feAppBytesPerImage?: number
  /** Chunk data the daemons received from another zone / image size (two switches only). */
  islAppBytesPerImage?: number
  /** Of it, what went back into the front-end's switch (each chunk starts there, so ideally 0). */
  islAppIntoFrontEndSwitchPerImage?: number
  /** Per host: chunk data it received from the other switch, in images. */
  islAppPerHost?: Record<string, number>
  /** The `method` values the pulls reported (download, copy, ...). */
  pullMethods?: string
  /** The pulls' own bytesDownloaded / image size (verified chunks, so 1.00 unless a chunk was fetched twice after a crash). */
  downloadedPerImage?: { mean: number, max: number }
  /** Chunk payload the hosts' daemons received (status bytesReceived: end-game duplicates and corrupt chunks included) / image size. */
  payloadRxPerImage?: { mean: number, max: number }
  /** Gossip announcements each host's daemon handled while its pull ran (the pulls report it): a few ms of CPU each. */
  announcementsPerPull?: { mean: number, max: number }
  /** Chunks each pull received twice (the pulls report it), and the sum over pulls by what made a host ask a second peer. */
  duplicateChunks?: { mean: number, max: number, byCause: Record<string, number> }
  addS?: number
  /** Daemon CPU while idle and connected, in cores (CPU seconds per second). */
  idleCpuFraction?: Usage
  /** Daemon CPU seconds spent during the pull phase, per host (and the front-end). */
  pullCpuS?: Usage
  /** The kernel (system) part of pullCpuS. */
  pullSysCpuS?: Usage
  /** Daemon CPU seconds over its whole life, per host. */
  totalCpuS?: Usage
  /** Daemon peak RSS (VmHWM), MiB. */
  maxRssMiB?: Usage
  /** Wall time of N simultaneous `imgp2p status --json` (one per host): the CLI's own start-up at this N. */
  statusBurstS?: number
  /** Seconds until every daemon printed its listening line. */
  daemonStartS?: number
}

export interface RunRecord {
  time: string
  label: string
  hosts: number
  switches: number
  imageKind: string
  imageBytes: number
  imageMiB: number
  chunkBytes: number | null
  hostMbit: number
  frontMbit: number
  islMbit: number
  /** Absent in runs before the option existed (they used 30 ms). */
  queueMs?: number
  /** TCP congestion control the namespaces used (absent before session 5: the kernel's default, bbr on these machines). */
  tcpCc?: string
  /** net.ipv4.tcp_notsent_lowat in those namespaces (absent before session 6: the kernel's default, 4294967295). */
  tcpNotsentLowat?: number
  /** Other sysctls set in the front-end's and hosts' namespaces (--sysctl; absent: none). */
  sysctls?: Record<string, string>
  /** MiB deployed before the measured image (absent or 0: cold daemons). */
  warmupMiB?: number
  /** Extra `imgp2p daemon` arguments (absent: none). */
  daemonArgs?: string[]
  /** More for the front-end's daemon only (absent: none). */
  feArgs?: string[]
  /** The daemons ran without a swarm key (records before session 17 all did). */
  openSwarm?: boolean
  tMinS: number
  shaping?: { bytes: number, expectedS: number, downS: number, upS: number }
  http: PhaseResult
  imgp2p: Imgp2pResult
  /** busyBefore: fraction of all cores busy with other work in the second before the run. */
  machine: { cpus: number, cpuModel: string, kernel: string, node: string, busyBefore: number }
  wallS: number
}

const f2 = (x: number | undefined): string => x === undefined ? '-' : x.toFixed(2)

/**
 * The imgp2p makespan no schedule could beat on this machine: every daemon's
 * CPU over the pull, spread perfectly over all cores, in x T_min. Near the
 * makespan the run is CPU-bound, whatever the links allow.
 */
export function cpuFloorRatio (r: RunRecord): number | undefined {
  const c = r.imgp2p.pullCpuS
  if (!r.imgp2p.ok || c === undefined || r.machine.cpus <= 0) return undefined
  return (c.fe + r.hosts * c.mean) / r.machine.cpus / r.tMinS
}

export function summary (r: RunRecord): string {
  const phase = (name: string, p: PhaseResult): string => p.ok
    ? `${name}: makespan ${f2(p.makespanS)} s (mean ${f2(p.meanS)}, max ${f2(p.maxS)}) = ${f2(p.ratio)} x T_min; ` +
      `front-end ${f2(p.feBytesPerImage)} x image${r.switches === 2 ? `; inter-switch ${f2(p.islBytesPerImage)} x image` : ''}; ` +
      `sha256 ok ${p.shaOk}/${r.hosts}; CPU busy ${Math.round((p.cpuBusy ?? 0) * 100)}%` +
      (p.linkUse !== undefined ? `; link use: hosts ${Math.round(p.linkUse.hostDownMean * 100)}% (min ${Math.round(p.linkUse.hostDownMin * 100)}%), front-end ${Math.round(p.linkUse.frontUp * 100)}%` : '') +
      (p.hostRxPerImage !== undefined ? `; host rx ${f2(p.hostRxPerImage.mean)} (max ${f2(p.hostRxPerImage.max)}) x image` : '') +
      (p.switchDrops !== undefined ? `; queue drops ${p.switchDrops}` : '') +
      (p.feRetransPerImage !== undefined ? `; front-end TCP retransmits ${f2(p.feRetransPerImage)} x image` : '') +
      (p.hostRetransPerImage !== undefined ? `; host TCP retransmits ${f2(p.hostRetransPerImage)} x image per host` : '') +
      (p.firstBytes !== undefined ? `; first 256 KiB after ${f2(p.firstBytes.medianS)} s (last host ${f2(p.firstBytes.maxS)} s)` : '')
    : `${name}: FAILED (${p.error ?? 'skipped'})`
  const lines = [
    `N=${r.hosts} switches=${r.switches} image=${r.imageMiB} MiB ${r.imageKind} chunk=${r.chunkBytes ?? 'default'} ` +
      `B=${r.hostMbit} Mbit/s F=${r.frontMbit} Mbit/s T_min=${f2(r.tMinS)} s`,
    '  ' + phase('http  ', r.http),
    '  ' + phase('imgp2p', r.imgp2p)
  ]
  const i = r.imgp2p
  if (i.ok && i.pullCpuS !== undefined && i.maxRssMiB !== undefined) {
    lines.push(`  imgp2p daemons: pull-phase CPU mean ${f2(i.pullCpuS.mean)} s max ${f2(i.pullCpuS.max)} s (front-end ${f2(i.pullCpuS.fe)} s), ` +
      `all daemons' CPU on ${r.machine.cpus} cores = ${f2(cpuFloorRatio(r))} x T_min, of it system ${f2(i.pullSysCpuS?.mean)} s (front-end ${f2(i.pullSysCpuS?.fe)} s); ` +
      `idle ${((i.idleCpuFraction?.mean ?? 0) * 100).toFixed(1)}% of a core; peak RSS mean ${Math.round(i.maxRssMiB.mean)} MiB max ${Math.round(i.maxRssMiB.max)} MiB (front-end ${Math.round(i.maxRssMiB.fe)} MiB); add ${f2(i.addS)} s; ${r.hosts} simultaneous \`imgp2p status\` took ${f2(i.statusBurstS)} s` +
      (i.downloadedPerImage !== undefined ? `; pulls report ${f2(i.downloadedPerImage.mean)} (max ${f2(i.downloadedPerImage.max)}) x image downloaded` : '') +
      (i.payloadRxPerImage !== undefined ? `; chunk payload received ${f2(i.payloadRxPerImage.mean)} (max ${f2(i.payloadRxPerImage.max)}) x image` : '') +
      (i.announcementsPerPull !== undefined ? `; gossip announcements handled during a pull ${f2(i.announcementsPerPull.mean)} (max ${i.announcementsPerPull.max})` : '') +
      (i.duplicateChunks !== undefined ? `; chunks received twice per pull ${f2(i.duplicateChunks.mean)} (max ${i.duplicateChunks.max}; ${describeDuplicates(i.duplicateChunks.byCause)})` : '') +
      (i.feAppBytesPerImage !== undefined ? `; front-end daemon sent ${f2(i.feAppBytesPerImage)} x image of chunk data (the link figure adds headers and retransmits)` : '') +
      (i.islAppBytesPerImage !== undefined ? `; chunk data across the switches ${f2(i.islAppBytesPerImage)} x image (back into the front-end's switch ${f2(i.islAppIntoFrontEndSwitchPerImage)})` : ''))
  }
  return lines.join('\n')
}

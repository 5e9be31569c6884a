/**
 * What the HTTP baseline and the imgp2p phase both report about a deployment
 * (every host fetching the image at once), computed one way for both.
 */
import { existsSync, rmSync } from 'node:fs'
import { saveTimeline } from './charts.js'
import type { RunContext } from './context.js'
import { sha256File } from './image.js'
import { type PhaseResult, stats } from './metrics.js'
import type { Proc } from './procs.js'
import { firstBytes, rxPerImage, utilisation, type Timeline } from './sampler.js'
import { busyFraction } from './sys.js'
import type { Counters } from './topology.js'

export interface Deployment {
  phase: 'http' | 'imgp2p'
  procs: Proc[]
  codes: Array<number | null>
  /** Each host's output file, checked against the image's sha256. */
  outs: string[]
  /** Delete the outputs once checked (the HTTP baseline's are scratch). */
  removeOutputs: boolean
  t0: number
  t1: number
  counters: Counters
  timeline: Timeline
  cpu0: { busy: number, total: number }
  cpu1: { busy: number, total: number }
}

export async function deploymentResult (ctx: RunContext, d: Deployment): Promise<PhaseResult> {
  const hosts = ctx.topo.hosts
  const names = hosts.map(h => h.name)
  const failed = d.codes.map((code, i) => code === 0 ? undefined : `${names[i]}: exit ${code} ${d.procs[i].stderr.trim().slice(-500)}`).filter(x => x !== undefined)
  let shaOk = 0
  for (const out of d.outs) {
    if (existsSync(out) && await sha256File(out) === ctx.imageSha) shaOk++
    if (d.removeOutputs) rmSync(out, { force: true })
  }
  const perHost = d.procs.map(p => ((p.endedAt ?? d.t1) - p.startedAt) / 1000)
  const makespanS = (d.t1 - d.t0) / 1000
  saveTimeline(ctx, d.phase, d.timeline)
  const c = d.counters
  return {
    ok: failed.length === 0 && shaOk === hosts.length,
    error: failed.length > 0 ? failed.join('; ') : (shaOk < hosts.length ? `sha256 mismatch on ${hosts.length - shaOk} hosts` : undefined),
    ...stats(perHost, makespanS),
    ratio: makespanS / ctx.tMinS,
    feBytesPerImage: c.feSent / ctx.imageBytes,
    islBytesPerImage: c.isl / ctx.imageBytes,
    switchDrops: c.switchDrops,
    feRetransPerImage: c.feRetransSegs * 1448 / ctx.imageBytes,
    hostRetransPerImage: c.hostRetransSegs * 1448 / ctx.imageBytes / Math.max(1, hosts.length),
    shaOk,
    cpuBusy: busyFraction(d.cpu0, d.cpu1),
    linkUse: utilisation(d.timeline, ctx.topo.opts.hostMbit, ctx.topo.opts.frontMbit, Object.fromEntries(names.map((n, i) => [n, perHost[i]])), makespanS),
    firstBytes: firstBytes(d.timeline, names),
    hostRxPerImage: rxPerImage(d.timeline, names, ctx.imageBytes)
  }
}

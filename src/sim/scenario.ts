/**
 * Scenarios: a JSON file (scenarios/*.json) read into plain numbers. Sizes and
 * rates may be written as strings ("9.77GB", "1Gbit/s"). See scenarios/README.md.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { UsageError } from '../errors.js'
import { parseSize } from '../util/size.js'
import { parseRate } from './units.js'

export type SimPolicyName = 'swarm' | 'unicast' | 'chain'

/** The file format; every field but `hosts` and `imageSize` has a default. */
export interface ScenarioFile {
  name?: string
  description?: string
  hosts: number
  imageSize: string | number
  /** Other image sizes the scenario is meant for (documentation and sweeps). */
  images?: Array<string | number>
  chunkSize?: string | number
  host?: { upload?: string | number, download?: string | number }
  frontEnd?: { upload?: string | number, download?: string | number, zone?: number | 'core' }
  zones?: {
    /** Hosts spread round-robin over this many zones (host i in zone i % count)... */
    count?: number
    /** ...or filled in order, this many per zone. */
    hostsPerZone?: number
    /** Each zone's link to the rest of the network, per direction. */
    uplink?: string | number
    downlink?: string | number
  }
  /** One-way message latency (requests, HAVE, choke), ms. */
  latencyMs?: number
  /**
   * `count`: the mean degree; or, with `acceptSlack`, the daemon's link caps
   * (src/node/swarm-links.ts): each host dials until it has `count` links and
   * accepts up to `count + acceptSlack`, so degrees lie in that range.
   */
  peers?: { count?: number, sameZoneFraction?: number, acceptSlack?: number }
  policy?: SimPolicyName
  seed?: number
  /** Driver timer: expire requests and re-pick every this many ms. */
  tickMs?: number
  /** Fill free upload slots as soon as a peer turns interested, without waiting for the next rechoke. */
  fastUnchoke?: boolean
  /**
   * Hosts start pulling at random times up to this many ms after the first
   * (uniform, seeded): on the cluster, N CLIs and daemons on two cores put
   * hosts' first requests 0.3-2.4 s apart (bench/cluster/FINDINGS.md session 9).
   */
  startSpreadMs?: number
  /** Passed through to the policy factories. */
  policyConfig?: {
    download?: Record<string, unknown>
    choker?: Record<string, unknown>
    originChoker?: Record<string, unknown>
    origin?: Record<string, unknown>
  }
}

export interface Scenario {
  name: string
  hosts: number
  imageBytes: number
  chunkBytes: number
  hostUpload: number
  hostDownload: number
  frontEndUpload: number
  frontEndDownload: number
  /** Zone of the front-end; -1 is the core (outside every zone). */
  frontEndZone: number
  zoneCount: number
  zoneOf: Int32Array
  zoneUplink: number
  zoneDownlink: number
  latencyMs: number
  peerCount: number
  sameZoneFraction: number
  /** Present: dial to peerCount, accept to peerCount + acceptSlack (the daemon's caps). */
  acceptSlack?: number
  policy: SimPolicyName
  seed: number
  tickMs: number
  fastUnchoke: boolean
  startSpreadMs: number
  policyConfig: NonNullable<ScenarioFile['policyConfig']>
}

export interface Overrides {
  hosts?: number
  imageSize?: string | number
  chunkSize?: string | number
  seed?: number
  policy?: SimPolicyName
  peers?: number
  interZone?: string | number
}


/** Read a scenario by file path or by the name of a file in scenarios/ ("paper"). */
export function loadScenarioFile (ref: string): ScenarioFile {
  const candidates = ref.endsWith('.json') ? [ref] : [ref, join(scenarioDir(), `${ref}.json`)]
  for (const path of candidates) {
    let text: string
    try { text = readFileSync(path, 'utf8') } catch { continue }
    try { return JSON.parse(text) as ScenarioFile } catch (err) {
      throw new UsageError(`scenario ${path} is not valid JSON: ${(err as Error).message}`)
    }
  }
  throw new UsageError(`no scenario "${ref}": give a JSON file or one of the names in scenarios/`)
}

/** scenarios/ next to the package root, from src/sim or dist/src/sim. */
function scenarioDir (): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const up = here.includes(`${join('dist', 'src')}`) ? join(here, '..', '..', '..') : join(here, '..', '..')
  return join(up, 'scenarios')
}

export function resolveScenario (file: ScenarioFile, o: Overrides = {}): Scenario {
  const hosts = o.hosts ?? file.hosts
  if (!Number.isInteger(hosts) || hosts < 1) throw new UsageError(`hosts must be a positive integer, got ${hosts}`)
  const imageBytes = parseSize(o.imageSize ?? file.imageSize)
  const chunkBytes = parseSize(o.chunkSize ?? file.chunkSize ?? '1MiB')
  if (imageBytes <= 0 || chunkBytes <= 0) throw new UsageError('image and chunk sizes must be positive')
  const hostUpload = parseRate(file.host?.upload ?? '1Gbit/s')
  const hostDownload = parseRate(file.host?.download ?? file.host?.upload ?? '1Gbit/s')
  const frontEndUpload = parseRate(file.frontEnd?.upload ?? '10Gbit/s')
  const frontEndDownload = parseRate(file.frontEnd?.download ?? file.frontEnd?.upload ?? '10Gbit/s')
  const z = file.zones ?? {}
  const zoneOf = new Int32Array(hosts)
  let zoneCount: number
  if (z.hostsPerZone != null) {
    zoneCount = Math.ceil(hosts / z.hostsPerZone)
    for (let i = 0; i < hosts; i++) zoneOf[i] = Math.floor(i / z.hostsPerZone)
  } else {
    zoneCount = Math.max(1, Math.min(z.count ?? 1, hosts))
    for (let i = 0; i < hosts; i++) zoneOf[i] = i % zoneCount
  }
  const fz = file.frontEnd?.zone ?? 0
  const interZone = o.interZone ?? z.uplink ?? '10Gbit/s'
  return {
    name: file.name ?? 'unnamed',
    hosts,
    imageBytes,
    chunkBytes,
    hostUpload,
    hostDownload,
    frontEndUpload,
    frontEndDownload,
    frontEndZone: fz === 'core' ? -1 : fz,
    zoneCount,
    zoneOf,
    zoneUplink: parseRate(interZone),
    zoneDownlink: parseRate(o.interZone ?? z.downlink ?? interZone),
    latencyMs: file.latencyMs ?? 0.1,
    peerCount: o.peers ?? file.peers?.count ?? 40,
    sameZoneFraction: file.peers?.sameZoneFraction ?? 0.8,
    acceptSlack: file.peers?.acceptSlack,
    policy: o.policy ?? file.policy ?? 'swarm',
    seed: o.seed ?? file.seed ?? 1,
    tickMs: file.tickMs ?? 1000,
    fastUnchoke: file.fastUnchoke ?? true,
    startSpreadMs: file.startSpreadMs ?? 0,
    policyConfig: file.policyConfig ?? {}
  }
}

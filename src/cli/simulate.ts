/**
 * `imgp2p simulate`: run the swarm policy (or a baseline) over a simulated
 * network and print makespan, T_min, front-end and inter-zone traffic.
 */
import { parseArgs } from 'node:util'
import { Imgp2pError, UsageError } from '../errors.js'
import { simulate } from '../sim/engine.js'
import { kitFor } from '../sim/kits.js'
import type { SimResult } from '../sim/result.js'
import { SCENARIO_OPTIONS, intOption, scenarioFromOptions } from '../sim/options.js'
import { formatBytes, formatChunk } from '../sim/units.js'

const USAGE = `usage: imgp2p simulate [--scenario FILE|paper] [--hosts N] [--image-size SIZE] [--chunk-size SIZE]
                        [--seed N] [--policy swarm|unicast|chain] [--peers N] [--inter-zone RATE] [--json] [--per-host]
  Sizes: 9.77GB, 899MB, 1MiB, 256KiB. Rates: 10Gbit/s. Scenarios: scenarios/*.json (default: paper).`

export async function runSimulateCommand (argv: string[]): Promise<number> {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        ...SCENARIO_OPTIONS,
        peers: { type: 'string' },
        'inter-zone': { type: 'string' },
        json: { type: 'boolean', default: false },
        'per-host': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }
      },
      strict: true
    })
    if (values.help) { process.stdout.write(`${USAGE}\n`); return 0 }
    const s = scenarioFromOptions(values, { peers: intOption('--peers', values.peers), interZone: values['inter-zone'] })
    const r = simulate(s, kitFor(s), { perHost: values['per-host'] })
    process.stdout.write(values.json ? `${JSON.stringify(r)}\n` : describe(r))
    return r.completed ? 0 : 1
  } catch (err) {
    if (err instanceof Imgp2pError) {
      process.stderr.write(`imgp2p simulate: ${err.message}\n`)
      if (err instanceof UsageError) process.stderr.write(`${USAGE}\n`)
      return err.exitCode
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
      process.stderr.write(`imgp2p simulate: ${(err as Error).message}\n${USAGE}\n`)
      return new UsageError('').exitCode
    }
    throw err
  }
}

function describe (r: SimResult): string {
  const lines = [
    `scenario ${r.scenario} (${r.policy}): ${r.hosts} hosts, image ${formatBytes(r.imageBytes)}, chunks ${formatChunk(r.chunkBytes)} x ${r.chunkCount}, seed ${r.seed}`,
    r.completed ? `all ${r.hostsDone} hosts done` : `INCOMPLETE: ${r.hostsDone} of ${r.hosts} hosts done at ${r.simSeconds} s`,
    `makespan      ${r.makespanSeconds} s  (T_min ${r.tMinSeconds} s, ratio ${r.makespanRatio})`,
    `per host      mean ${r.meanSeconds} s, min ${r.minSeconds} s, p50 ${r.p50Seconds} s, p95 ${r.p95Seconds} s, spread ${r.spreadSeconds} s`,
    `front-end     ${formatBytes(r.frontEndBytes)} (${r.frontEndRatio} x image)`,
    `inter-zone    ${formatBytes(r.interZoneBytes)} (${r.interZoneRatio} x image)`,
    `duplicates    ${formatBytes(r.duplicateBytes)}`,
    `simulator     ${r.deliveries} deliveries, ${r.events} events, ${r.rateSolves} rate solves (${r.globalSolves} global), ${r.wallSeconds} s wall`
  ]
  return `${lines.join('\n')}\n`
}

/**
 * The command-line options every simulator entry point shares (`imgp2p
 * simulate`, bench/sim/point.js, bench/sim/trace.js) and how they become a
 * Scenario, so the three read them the same way.
 */
import { UsageError } from '../errors.js'
import { loadScenarioFile, resolveScenario, type Scenario, type ScenarioFile, type SimPolicyName } from './scenario.js'

export const SCENARIO_OPTIONS = {
  scenario: { type: 'string', default: 'paper' },
  hosts: { type: 'string' },
  'image-size': { type: 'string' },
  'chunk-size': { type: 'string' },
  seed: { type: 'string' },
  policy: { type: 'string' }
} as const

export interface ScenarioOptionValues {
  scenario?: string
  hosts?: string
  'image-size'?: string
  'chunk-size'?: string
  seed?: string
  policy?: string
}

const POLICIES: SimPolicyName[] = ['swarm', 'unicast', 'chain']

/** Load the scenario named by the options and apply their overrides; `edit` may change the file first. */
export function scenarioFromOptions (
  v: ScenarioOptionValues,
  extra: { peers?: number, interZone?: string } = {},
  edit: (file: ScenarioFile) => ScenarioFile = f => f
): Scenario {
  if (v.policy != null && !POLICIES.includes(v.policy as SimPolicyName)) throw new UsageError(`--policy must be swarm, unicast or chain, got ${v.policy}`)
  return resolveScenario(edit(loadScenarioFile(v.scenario ?? 'paper')), {
    hosts: intOption('--hosts', v.hosts),
    imageSize: v['image-size'],
    chunkSize: v['chunk-size'],
    seed: intOption('--seed', v.seed),
    policy: v.policy as SimPolicyName | undefined,
    ...extra
  })
}

export function intOption (name: string, v: string | undefined): number | undefined {
  if (v == null) return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${name} must be a non-negative integer, got ${v}`)
  return n
}

/**
 * One simulation point as JSON, with optional scenario overrides and policy
 * variants (for sweeps and experiments):
 * node dist/bench/sim/point.js --scenario paper --hosts 24 --image-size 899MB
 *   [--chunk-size 1MiB] [--seed 1] [--policy swarm|unicast] [--variant V] [--set path=value]...
 */
import { parseArgs } from 'node:util'
import { simulate } from '../../src/sim/engine.js'
import { baselineKit } from '../../src/sim/baseline.js'
import { SCENARIO_OPTIONS, scenarioFromOptions } from '../../src/sim/options.js'
import { applySets } from './sets.js'
import { variantKit, type Variant } from './variants.js'

const { values } = parseArgs({
  options: {
    ...SCENARIO_OPTIONS,
    variant: { type: 'string', default: 'none' },
    set: { type: 'string', multiple: true, default: [] }
  }
})
const s = scenarioFromOptions(values, {}, file => applySets(file, values.set))
const kit = s.policy === 'swarm' ? variantKit(s, values.variant as Variant) : baselineKit(s.policy)
const cpu0 = process.cpuUsage()
const r = simulate(s, kit)
const cpu = process.cpuUsage(cpu0)
process.stdout.write(JSON.stringify({ ...r, cpuSeconds: Math.round((cpu.user + cpu.system) / 1e4) / 100, variant: values.variant }) + '\n')

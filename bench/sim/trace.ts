/**
 * Trace one run: throughput and per-zone progress over simulated time, to see
 * where a policy loses time. node dist/bench/sim/trace.js [--scenario paper]
 * [--hosts N] [--image-size SIZE] [--chunk-size SIZE] [--every SECONDS] [--set path=value ...]
 * [--variant none|choker-zone-blind|far-slot] [--watch HOST [--log-from SECONDS]]
 */
import { parseArgs } from 'node:util'
import { simulateTraced } from '../../src/sim/engine.js'
import { variantKit, type Variant } from './variants.js'
import { SCENARIO_OPTIONS, scenarioFromOptions } from '../../src/sim/options.js'
import { applySets } from './sets.js'

const { values } = parseArgs({
  options: {
    ...SCENARIO_OPTIONS,
    every: { type: 'string', default: '5' },
    set: { type: 'string', multiple: true, default: [] },
    variant: { type: 'string', default: 'none' },
    watch: { type: 'string' },
    'log-from': { type: 'string', default: '0' }
  }
})
const s = scenarioFromOptions(values, {}, file => applySets(file, values.set))
const watch = values.watch == null ? undefined : Number(values.watch)
const { result, trace, log } = simulateTraced(s, variantKit(s, values.variant as Variant), Number(values.every), watch)
console.log('t\tupGbps\tfeGbps\tizGbps\tflows\tdl\tunderfed\tminDown\tp10Down\tunchokers\tprogress/zone\tdone/zone')
for (const r of trace) console.log(`${r.t}\t${r.hostUploadGbps}\t${r.frontEndGbps}\t${r.interZoneGbps}\t${r.activeFlows}\t${r.downloading}\t${r.underfed}\t${r.minDownGbps}\t${r.p10DownGbps}\t${r.meanUnchokers}\t${r.zoneProgress.slice(0, 4).join(',')}\t${r.zoneDone.slice(0, 4).join(',')}`)
const { perHostSeconds, ...rest } = result
if (watch === undefined && perHostSeconds != null) {
  const last = perHostSeconds.indexOf(Math.max(...perHostSeconds))
  console.log(`last host: h${last} at ${perHostSeconds[last]} s (rerun with --watch ${last} to log it)`)
}
for (const line of log) if (Number(line.split(' ')[0]) >= Number(values['log-from'])) console.log(line)
console.log(JSON.stringify(rest))

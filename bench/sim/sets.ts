/** `--set policyConfig.choker.uploadSlots=6`: override one scenario field (value parsed as JSON when it can be). */
import type { ScenarioFile } from '../../src/sim/scenario.js'

export function applySets (file: ScenarioFile, sets: string[]): ScenarioFile {
  const out = structuredClone(file) as unknown as Record<string, unknown>
  for (const s of sets) {
    const eq = s.indexOf('=')
    if (eq < 0) throw new Error(`--set needs path=value, got ${s}`)
    const path = s.slice(0, eq).split('.')
    let value: unknown = s.slice(eq + 1)
    try { value = JSON.parse(value as string) } catch {}
    let o = out
    for (const k of path.slice(0, -1)) {
      if (o[k] == null || typeof o[k] !== 'object') o[k] = {}
      o = o[k] as Record<string, unknown>
    }
    o[path[path.length - 1]] = value
  }
  return out as unknown as ScenarioFile
}

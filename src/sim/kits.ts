/** The policy kit a scenario asks for. */
import type { PolicyKit } from './kit.js'
import type { Scenario } from './scenario.js'
import { baselineKit } from './baseline.js'
import { swarmKit } from './swarm-kit.js'

export function kitFor (s: Scenario): PolicyKit {
  return s.policy === 'swarm' ? swarmKit(s) : baselineKit(s.policy)
}

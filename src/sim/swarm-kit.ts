/**
 * The swarm policy from src/policy, exactly as the daemon builds it, plus the
 * scenario's policyConfig overrides. Peers start choked in the simulator (it
 * models choke messages), so the download policy is told so.
 */
import { createChoker, createDownloadPolicy, createOriginChoker, createOriginPolicy } from '../policy/index.js'
import type { ChokerConfig, DownloadConfig, OriginConfig } from '../policy/types.js'
import type { PolicyKit } from './kit.js'
import { hostKey } from './baseline.js'
import type { Scenario } from './scenario.js'
import { zoneName } from './engine.js'

export function swarmKit (s: Scenario): PolicyKit {
  const pc = s.policyConfig
  return {
    graph: 'random',
    download: (opts, host) => createDownloadPolicy({
      ...opts,
      self: hostKey(host),
      config: { peersStartChoked: true, ...(pc.download as Partial<DownloadConfig> | undefined) }
    }),
    choker: (host, rng) => host < 0
      ? createOriginChoker(pc.originChoker as Partial<ChokerConfig> | undefined)
      : createChoker({ ...(pc.choker as Partial<ChokerConfig> | undefined) }, { zone: zoneName(s.zoneOf[host]), rng }),
    origin: (chunkCount, rng) => createOriginPolicy({
      chunkCount,
      zone: zoneName(s.frontEndZone),
      rng,
      config: pc.origin as Partial<OriginConfig> | undefined
    })
  }
}

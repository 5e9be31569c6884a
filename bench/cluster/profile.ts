/**
 * Summarises a V8 .cpuprofile (from --profile): self time by function and by
 * package, to see where a daemon's CPU goes.
 *
 *   node dist/bench/cluster/profile.js FILE.cpuprofile [TOP]
 */
import { readFileSync } from 'node:fs'

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount?: number }
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

export function summarise (file: string, top = 25): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(p.nodes.map(n => [n.id, n]))
  const self = new Map<number, number>()
  p.samples.forEach((id, i) => { self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)) })
  const fn = new Map<string, number>()
  const pkg = new Map<string, number>()
  let total = 0
  for (const [id, us] of self) {
    const n = byId.get(id)
    if (n === undefined) continue
    total += us
    const url = n.callFrame.url
    const where = url.replace(/^file:\/\//, '').replace(/.*node_modules\//, 'nm:').replace(/.*\/dist\//, 'dist/')
    const name = `${n.callFrame.functionName === '' ? '(anonymous)' : n.callFrame.functionName} ${where}:${n.callFrame.lineNumber + 1}`
    fn.set(name, (fn.get(name) ?? 0) + us)
    const m = /nm:((?:@[^/]+\/)?[^/]+)/.exec(where)
    const key = m !== null ? m[1] : (where.startsWith('dist/') ? where.split('/').slice(0, 3).join('/') : (where === '' ? n.callFrame.functionName : 'node:internal'))
    pkg.set(key, (pkg.get(key) ?? 0) + us)
  }
  const fmt = (m: Map<string, number>): string[] => [...m].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([k, us]) => `${(us / 1e6).toFixed(2).padStart(7)} s ${(us / total * 100).toFixed(1).padStart(5)}%  ${k}`)
  return [`${file}: ${(total / 1e6).toFixed(2)} s sampled over ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s`,
    '-- by package / area --', ...fmt(pkg), '-- by function (self) --', ...fmt(fn)].join('\n')
}

if (process.argv[1]?.endsWith('profile.js') === true && process.argv[2] !== undefined) {
  process.stdout.write(summarise(process.argv[2], Number(process.argv[3] ?? 25)) + '\n')
}

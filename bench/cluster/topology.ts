/**
 * Network namespaces for the cluster benchmark: one namespace per switch (a
 * Linux bridge inside), one for the front-end and one per host, each joined to
 * its switch by a veth pair created directly inside the namespaces (nothing is
 * ever created in, or routed through, the root namespace). Addresses come from
 * 10.77.0.0/16 and exist only inside these namespaces.
 *
 * Shaping: htb on the egress of both ends of every host and front-end link, so
 * that a host's upload (its own eth0) and download (the bridge port towards it)
 * are both limited to B, the front-end's to F.
 */
import { sh } from './sys.js'

export const SUBNET = '10.77'

export interface Node {
  name: string
  /** Namespace name. */
  ns: string
  ip: string
  /** Index of the switch it hangs off. */
  sw: number
  /** Name of its port (the veth end) inside the switch namespace. */
  port: string
}

export interface TopologyOptions {
  prefix: string
  hosts: number
  switches: 1 | 2
  hostMbit: number
  frontMbit: number
  /** Rate of the link between the two switches; 0 = unshaped. */
  islMbit: number
  /** Each shaped port's FIFO, in milliseconds at its rate. */
  queueMs: number
  /** TCP congestion control in the front-end's and hosts' namespaces ('' = the kernel's default). */
  tcpCc: string
  /** net.ipv4.tcp_notsent_lowat in the front-end's and hosts' namespaces (0 = the kernel's default). */
  notsentLowat: number
  /** Other sysctls for the front-end's and hosts' namespaces, e.g. net.ipv4.tcp_slow_start_after_idle=0. */
  sysctls?: Record<string, string>
}

export interface Topology {
  opts: TopologyOptions
  switchNs: string[]
  fe: Node
  hosts: Node[]
  /** Every namespace created, in creation order. */
  namespaces: string[]
}

/** Namespaces whose names start with the prefix. */
export function listNamespaces (prefix: string): string[] {
  return sh('ip', ['netns', 'list'], { allowFail: true })
    .split('\n').map(l => l.split(' ')[0]).filter(n => n.startsWith(prefix))
}

function addNs (topo: Topology, ns: string): void {
  sh('ip', ['netns', 'add', ns])
  topo.namespaces.push(ns)
  // No IPv6: keeps router solicitations and MLD chatter out of the byte counters.
  sh('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w',
    'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'], { allowFail: true })
  sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
}

/**
 * Egress shaping on one device: htb with a single class at `mbit`, and a byte
 * FIFO of `queueMs` at that rate (at least 64 KiB).
 */
export function shape (ns: string, dev: string, mbit: number, queueMs: number): void {
  const rate = `${mbit}mbit`
  const limit = Math.max(65536, Math.round(mbit * 1e6 / 8 * queueMs / 1000))
  sh('tc', ['-n', ns, 'qdisc', 'replace', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '1'])
  sh('tc', ['-n', ns, 'class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:1', 'htb',
    'rate', rate, 'ceil', rate, 'quantum', '60000'])
  sh('tc', ['-n', ns, 'qdisc', 'add', 'dev', dev, 'parent', '1:1', 'handle', '10:', 'bfifo', 'limit', String(limit)])
}

function attach (topo: Topology, node: Node, mbit: number): void {
  const sw = topo.switchNs[node.sw]
  sh('ip', ['-n', sw, 'link', 'add', node.port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.ns])
  sh('ip', ['-n', sw, 'link', 'set', node.port, 'master', 'br0'])
  sh('ip', ['-n', sw, 'link', 'set', node.port, 'up'])
  sh('ip', ['-n', node.ns, 'addr', 'add', `${node.ip}/16`, 'dev', 'eth0'])
  sh('ip', ['-n', node.ns, 'link', 'set', 'eth0', 'up'])
  if (topo.opts.tcpCc !== '') setSysctl(node.ns, 'net.ipv4.tcp_congestion_control', topo.opts.tcpCc)
  if (topo.opts.notsentLowat > 0) setSysctl(node.ns, 'net.ipv4.tcp_notsent_lowat', String(topo.opts.notsentLowat))
  for (const [k, v] of Object.entries(topo.opts.sysctls ?? {})) setSysctl(node.ns, k, v)
  shape(node.ns, 'eth0', mbit, topo.opts.queueMs) // upload
  shape(sw, node.port, mbit, topo.opts.queueMs) // download
}

/** Builds the whole topology. On any error the caller must still remove `topo.namespaces` (run.ts teardown). */
export function createTopology (opts: TopologyOptions, topo?: Topology): Topology {
  const t: Topology = topo ?? emptyTopology(opts)
  for (let s = 0; s < opts.switches; s++) {
    const ns = `${opts.prefix}sw${s}`
    addNs(t, ns)
    t.switchNs.push(ns)
    sh('ip', ['-n', ns, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0'])
    sh('ip', ['-n', ns, 'link', 'set', 'br0', 'up'])
  }
  if (opts.switches === 2) {
    const [a, b] = t.switchNs
    sh('ip', ['-n', a, 'link', 'add', 'isl', 'type', 'veth', 'peer', 'name', 'isl', 'netns', b])
    for (const ns of [a, b]) {
      sh('ip', ['-n', ns, 'link', 'set', 'isl', 'master', 'br0'])
      sh('ip', ['-n', ns, 'link', 'set', 'isl', 'up'])
      if (opts.islMbit > 0) shape(ns, 'isl', opts.islMbit, opts.queueMs)
    }
  }
  t.fe = { name: 'fe', ns: `${opts.prefix}fe`, ip: `${SUBNET}.0.1`, sw: 0, port: 'pfe' }
  addNs(t, t.fe.ns)
  attach(t, t.fe, opts.frontMbit)
  // Half the hosts (rounded up) on the front-end's switch, the rest on the other one.
  const onFirst = opts.switches === 2 ? Math.ceil(opts.hosts / 2) : opts.hosts
  for (let i = 1; i <= opts.hosts; i++) {
    const node: Node = { name: `h${i}`, ns: `${opts.prefix}h${i}`, ip: `${SUBNET}.1.${i}`, sw: i <= onFirst ? 0 : 1, port: `p${i}` }
    addNs(t, node.ns)
    t.hosts.push(node)
    attach(t, node, opts.hostMbit)
  }
  return t
}

export function emptyTopology (opts: TopologyOptions): Topology {
  return { opts, switchNs: [], fe: { name: 'fe', ns: '', ip: '', sw: 0, port: '' }, hosts: [], namespaces: [] }
}

export interface LinkBytes { tx: number, rx: number }

/** Interface byte counters (from the kernel's link statistics). */
export function linkBytes (ns: string, dev: string): LinkBytes {
  const j = JSON.parse(sh('ip', ['-n', ns, '-s', '-j', 'link', 'show', 'dev', dev])) as Array<{ stats64: { tx: { bytes: number }, rx: { bytes: number } } }>
  return { tx: j[0].stats64.tx.bytes, rx: j[0].stats64.rx.bytes }
}

/**
 * The counters the benchmark reports: front-end sent, bytes over the
 * inter-switch link (both ways), and packets dropped by the shaping queues
 * in the switches (a host's download queue overflowing: TCP losses, whose
 * retransmissions count as sent again).
 */
export interface Counters { feSent: number, isl: number, switchDrops: number, feRetransSegs: number, hostRetransSegs: number }

function qdiscDrops (ns: string): number {
  const j = JSON.parse(sh('tc', ['-n', ns, '-s', '-j', 'qdisc', 'show'])) as Array<{ kind: string, drops?: number }>
  return j.filter(q => q.kind === 'bfifo').reduce((a, q) => a + (q.drops ?? 0), 0)
}

/** TCP segments the namespace's stack has retransmitted (/proc/net/snmp is per network namespace). */
function retransSegs (ns: string): number {
  const lines = sh('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp']).split('\n').filter(l => l.startsWith('Tcp:'))
  if (lines.length < 2) return 0
  const keys = lines[0].split(/\s+/)
  const vals = lines[1].split(/\s+/)
  return Number(vals[keys.indexOf('RetransSegs')] ?? 0)
}

export function readCounters (t: Topology): Counters {
  const fe = linkBytes(t.fe.ns, 'eth0')
  let isl = 0
  if (t.switchNs.length === 2) {
    const l = linkBytes(t.switchNs[0], 'isl')
    isl = l.tx + l.rx
  }
  return {
    feSent: fe.tx,
    isl,
    switchDrops: t.switchNs.reduce((a, ns) => a + qdiscDrops(ns), 0),
    feRetransSegs: retransSegs(t.fe.ns),
    hostRetransSegs: t.hosts.reduce((a, h) => a + retransSegs(h.ns), 0)
  }
}

export function diffCounters (a: Counters, b: Counters): Counters {
  return {
    feSent: b.feSent - a.feSent,
    isl: b.isl - a.isl,
    switchDrops: b.switchDrops - a.switchDrops,
    feRetransSegs: b.feRetransSegs - a.feRetransSegs,
    hostRetransSegs: b.hostRetransSegs - a.hostRetransSegs
  }
}

/** Pids of every process living in a namespace (all of them started by us). */
export function namespacePids (ns: string): number[] {
  return sh('ip', ['netns', 'pids', ns], { allowFail: true }).split('\n').filter(l => l !== '').map(Number)
}

export function deleteNamespace (ns: string): void {
  sh('ip', ['netns', 'del', ns], { allowFail: true })
}

/** A namespace's own value of a per-namespace sysctl (TCP's are, since Linux 4.15). */
function sysctl (ns: string, key: string): string {
  return sh('ip', ['netns', 'exec', ns, 'sysctl', '-n', key]).trim()
}

function setSysctl (ns: string, key: string, value: string): void {
  sh('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `${key}=${value}`])
}

/** The congestion control new TCP connections get in a namespace. */
export function tcpCongestionControl (ns: string): string {
  return sysctl(ns, 'net.ipv4.tcp_congestion_control')
}

/** How many unsent bytes a TCP socket in the namespace may hold before it stops taking writes. */
export function tcpNotsentLowat (ns: string): number {
  return Number(sysctl(ns, 'net.ipv4.tcp_notsent_lowat'))
}

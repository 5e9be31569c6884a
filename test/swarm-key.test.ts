/**
 * The swarm key (src/node/swarm-key.ts): its file, its proofs, what a closed
 * swarm tells the operator, and `imgp2p keygen`.
 */
import { randomBytes } from 'node:crypto'
import { chmod, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { REFUSAL_LOG_INTERVAL_MS, Refusals, SwarmKey, loadSwarmKey } from '../src/node/swarm-key.js'
import { perTest, runCommand } from './helpers.js'

const HEX = 'a1'.repeat(32)
const BIN = join(import.meta.dirname, '..', 'bin', 'imgp2p')

describe('swarm key', () => {
  const { dir } = perTest()

  it('reads the libp2p PSK layout and bare hex as the same key', () => {
    const a = SwarmKey.parse(`/key/swarm/psk/1.0.0/\n/base16/\n${HEX}\n`, 'f')
    const b = SwarmKey.parse(`${HEX.toUpperCase()}\r\n`, 'f')
    expect(a.fingerprint).toBe(b.fingerprint)
    expect(a.fingerprint).toMatch(/^[0-9a-f]{16}$/)
    expect(SwarmKey.parse('b2'.repeat(32), 'f').fingerprint).not.toBe(a.fingerprint)
    const round = SwarmKey.parse(a.toFileText(), 'f')
    expect(round.fingerprint).toBe(a.fingerprint)
  })

  it('rejects what is not a key, saying what it wants', () => {
    expect(() => SwarmKey.parse('', 'k')).toThrow(/k: not a swarm key.*keygen/)
    expect(() => SwarmKey.parse(`/key/swarm/psk/1.0.0/\n/base64/\n${HEX}`, 'k')).toThrow(/only the \/base16\/ encoding/)
    expect(() => SwarmKey.parse('abc', 'k')).toThrow(/64 hex digits.*got 3 characters/)
    expect(() => SwarmKey.parse('zz'.repeat(32), 'k')).toThrow(/64 hex digits/)
    try { SwarmKey.parse('abc', 'k') } catch (err) { expect((err as Error).name).toBe('UsageError') }
  })

  it('proves membership per session and per role', () => {
    const key = SwarmKey.parse(HEX, 'k')
    const other = SwarmKey.parse('b2'.repeat(32), 'k')
    const channel = randomBytes(32)
    const client = key.proof('client', channel)
    expect(client).toHaveLength(32)
    expect(key.verify('client', channel, client)).toBe(true)
    // A peer cannot echo our own proof back: the roles differ.
    expect(key.verify('server', channel, client)).toBe(false)
    // Nor replay it on another session.
    expect(key.verify('client', randomBytes(32), client)).toBe(false)
    // Nor make one without the key.
    expect(key.verify('client', channel, other.proof('client', channel))).toBe(false)
    expect(key.verify('client', channel, client.subarray(0, 31))).toBe(false)
  })

  it('counts every refusal and tells the operator once per peer per interval', () => {
    const key = SwarmKey.parse(HEX, 'k')
    const told: string[] = []
    let now = 1_000_000
    const r = new Refusals(key, (m) => { told.push(m) }, () => now)
    const refusal = { peer: 'peerA', addr: '10.0.0.5:4050', inbound: true, reason: "it does not hold this swarm's key" }
    r.record(refusal)
    r.record(refusal)
    r.record({ ...refusal, peer: 'peerB', inbound: false })
    expect(told).toHaveLength(2)
    expect(told[0]).toContain('refused a connection from peerA at 10.0.0.5:4050')
    expect(told[0]).toContain(key.fingerprint)
    expect(told[1]).toContain('refused to connect to peerB')
    now += REFUSAL_LOG_INTERVAL_MS
    r.record(refusal)
    expect(told).toHaveLength(3)
    const report = r.report()
    expect(report.refused).toBe(4)
    expect(report.fingerprint).toBe(key.fingerprint)
    expect(report.last?.peer).toBe('peerA')
    expect(report.last?.at).toBe(new Date(now).toISOString())
  })

  it('refuses a key file that other users can read, or that is missing', async () => {
    const d = await dir()
    const file = join(d, 'swarm.key')
    await writeFile(file, HEX, { mode: 0o644 })
    await chmod(file, 0o644)
    await expect(loadSwarmKey(file)).rejects.toThrow(/other users can read it; chmod 600/)
    await chmod(file, 0o640)
    expect((await loadSwarmKey(file)).fingerprint).toBe(SwarmKey.parse(HEX, 'k').fingerprint)
    await expect(loadSwarmKey(join(d, 'nope.key'))).rejects.toThrow(/no such file.*keygen/)
  })

  it('`imgp2p keygen` writes a key only its owner reads, and never overwrites one', async () => {
    const d = await dir()
    const file = join(d, 'swarm.key')
    const first = await runCommand(BIN, ['keygen', file])
    expect(first.code).toBe(0)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    const text = await readFile(file, 'utf8')
    const key = SwarmKey.parse(text, file)
    expect(first.stdout).toContain(`fingerprint ${key.fingerprint}`)
    const again = await runCommand(BIN, ['keygen', file])
    expect(again.code).toBe(64)
    expect(again.stderr.trim().split('\n')).toHaveLength(1)
    expect(again.stderr).toContain('never overwritten')
    expect(await readFile(file, 'utf8')).toBe(text)
  }, 20_000)
})

/**
 * A closed swarm (`imgp2p daemon --swarm-key FILE`): only hosts holding the
 * same 32-byte secret may connect. Without it any machine that reaches a
 * daemon's port joins, hears every image's CID over gossip and can pull it,
 * which is not what a cloud's private images want.
 *
 * The secret never crosses the wire. After the TLS handshake each side sends
 * an HMAC of the secret over a value exported from that TLS session (RFC
 * 8446 section 7.5) and its own role, and checks the other's (socket-tls.ts).
 * Bound to the session, a proof cannot be replayed on another connection or
 * relayed by a host in the middle, and the role keeps a host from echoing a
 * peer's proof back to it. The cost is 32 bytes each way at connection start;
 * the data path is untouched, unlike libp2p's pnet, which runs a second
 * stream cipher over every byte.
 *
 * The file uses the libp2p/IPFS pre-shared key layout, so existing tooling
 * can make one; `imgp2p keygen FILE` does too.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { UsageError } from '../errors.js'

export const SWARM_KEY_BYTES = 32
/** Bytes of one side's proof on the wire. */
export const PROOF_BYTES = 32
/** What the TLS exporter is asked for; both sides must use the same label. */
export const EXPORTER_LABEL = 'EXPORTER-imgp2p-swarm-membership'

const HEADER = '/key/swarm/psk/1.0.0/'
const ENCODING = '/base16/'

export type Role = 'client' | 'server'

export class SwarmKey {
  private readonly secret: Buffer
  /** A short, public name for the key: equal on every host that holds the same one. */
  readonly fingerprint: string

  private constructor (secret: Buffer) {
    this.secret = secret
    this.fingerprint = createHash('sha256').update('imgp2p swarm key fingerprint\n').update(secret).digest('hex').slice(0, 16)
  }

  static generate (): SwarmKey {
    return new SwarmKey(randomBytes(SWARM_KEY_BYTES))
  }

  /**
   * The libp2p PSK layout (`/key/swarm/psk/1.0.0/`, `/base16/`, 64 hex
   * digits), or the 64 hex digits alone. `where` names the source in errors.
   */
  static parse (text: string, where: string): SwarmKey {
    const lines = text.split(/\r?\n/).map(l => l.trim()).filter(l => l !== '')
    let hex: string | undefined
    if (lines.length === 1) {
      hex = lines[0]
    } else if (lines.length === 3 && lines[0] === HEADER) {
      if (lines[1] !== ENCODING) throw new UsageError(`${where}: only the ${ENCODING} encoding is read, not ${lines[1]}`)
      hex = lines[2]
    } else {
      throw new UsageError(`${where}: not a swarm key (want "${HEADER}", "${ENCODING}" and 64 hex digits; \`imgp2p keygen FILE\` makes one)`)
    }
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new UsageError(`${where}: the key must be 64 hex digits (32 bytes), got ${hex.length} characters`)
    return new SwarmKey(Buffer.from(hex, 'hex'))
  }

  toFileText (): string {
    return `${HEADER}\n${ENCODING}\n${this.secret.toString('hex')}\n`
  }

  /** What a side in `role` sends on the TLS session whose exported value is `channel`. */
  proof (role: Role, channel: Uint8Array): Buffer {
    return createHmac('sha256', this.secret).update(`imgp2p swarm membership v1 ${role}\n`).update(channel).digest()
  }

  /** Whether `got` is the proof a holder of this key in `role` sends on `channel`. */
  verify (role: Role, channel: Uint8Array, got: Uint8Array): boolean {
    const want = this.proof(role, channel)
    return got.byteLength === want.byteLength && timingSafeEqual(want, got)
  }
}

/**
 * Read a key file. Like ssh with a private key, refuse one that other users
 * can read: whoever reads it can join the swarm and pull every image.
 */
export async function loadSwarmKey (path: string): Promise<SwarmKey> {
  let text: string
  let mode: number
  try {
    mode = (await stat(path)).mode
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new UsageError(`--swarm-key ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (`imgp2p keygen FILE` makes one)' : (err as Error).message}`)
  }
  if ((mode & 0o007) !== 0) throw new UsageError(`--swarm-key ${path}: other users can read it; chmod 600 (or 640 for a group) and use it again`)
  return SwarmKey.parse(text, `--swarm-key ${path}`)
}

/** Write a new key, readable by its owner only; never over an existing file. */
export async function writeNewSwarmKey (path: string): Promise<SwarmKey> {
  const key = SwarmKey.generate()
  try {
    await writeFile(path, key.toFileText(), { mode: 0o600, flag: 'wx' })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new UsageError(`keygen ${path}: ${code === 'EEXIST' ? 'the file exists; a swarm key is never overwritten (remove it first if that is what you want)' : (err as Error).message}`)
  }
  return key
}

export interface Refusal {
  /** The peer's id, as its certificate proved it. */
  peer: string
  /** The peer's TCP address, ip:port. */
  addr: string
  /** Whether the peer dialled us. */
  inbound: boolean
  reason: string
}

export interface RefusalReport {
  /** The key's fingerprint, to compare across hosts. */
  fingerprint: string
  refused: number
  last?: Refusal & { at: string }
}

/** One line per peer this often at most: a host with the wrong key redials every few seconds. */
export const REFUSAL_LOG_INTERVAL_MS = 10 * 60_000

/** What a closed swarm refused: counted for `status`, told to the operator's log. */
export class Refusals {
  private count = 0
  private last?: Refusal & { at: string }
  private readonly toldAt = new Map<string, number>()
  private readonly key: SwarmKey
  private readonly notice: (msg: string) => void
  private readonly now: () => number

  constructor (key: SwarmKey, notice: (msg: string) => void, now: () => number = Date.now) {
    this.key = key
    this.notice = notice
    this.now = now
  }

  record (r: Refusal): void {
    const now = this.now()
    this.count++
    this.last = { ...r, at: new Date(now).toISOString() }
    const told = this.toldAt.get(r.peer)
    if (told !== undefined && now - told < REFUSAL_LOG_INTERVAL_MS) return
    if (this.toldAt.size > 1000) this.toldAt.clear()
    this.toldAt.set(r.peer, now)
    this.notice(`swarm: refused ${r.inbound ? 'a connection from' : 'to connect to'} ${r.peer} at ${r.addr}: ${r.reason} (key ${this.key.fingerprint} here)`)
  }

  report (): RefusalReport {
    return { fingerprint: this.key.fingerprint, refused: this.count, ...(this.last !== undefined ? { last: this.last } : {}) }
  }
}

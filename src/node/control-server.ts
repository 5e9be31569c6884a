/**
 * The daemon's control endpoint: a unix socket inside the data dir, mode
 * 0600, so only the user owning the daemon can drive it. One request per
 * connection, newline-delimited JSON:
 *
 *   -> {"method":"pull","params":{...}}
 *   <- {"event":"progress",...}          (zero or more)
 *   <- {"ok":true,"result":...} | {"ok":false,"error":{"name":...,"message":...}}
 *
 * Closing the connection aborts the request (Ctrl-C on `imgp2p pull`); what
 * was verified stays for a resume.
 */
import { chmod, unlink } from 'node:fs/promises'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { Imgp2pError, UsageError } from '../errors.js'
import type { Imgp2pNode } from './node.js'

export const SOCKET_NAME = 'imgp2p.sock'
const MAX_REQUEST_BYTES = 64 * 1024

export function socketPath (dataDir: string): string {
  return join(dataDir, SOCKET_NAME)
}

export type ControlHandler = (params: Record<string, unknown>, ctx: { signal: AbortSignal, progress: (p: object) => void }) => Promise<unknown>

export function controlHandlers (node: Imgp2pNode): Record<string, ControlHandler> {
  const str = (p: Record<string, unknown>, k: string): string => {
    if (typeof p[k] !== 'string') throw new UsageError(`missing ${k}`)
    return p[k] as string
  }
  const num = (p: Record<string, unknown>, k: string): number | undefined => typeof p[k] === 'number' ? p[k] as number : undefined
  return {
    ping: async () => ({ peerId: node.peerId }),
    add: async (p, { signal }) => await node.add(str(p, 'file'), { chunkSize: num(p, 'chunkSize'), signal }),
    pull: async (p, { signal, progress }) => await node.pull(str(p, 'cid'), {
      out: typeof p.out === 'string' ? p.out : undefined,
      timeoutMs: num(p, 'timeoutMs'),
      progressIntervalMs: num(p, 'progressMs'),
      signal,
      onProgress: progress
    }),
    ls: async () => await node.list(),
    status: async () => await node.status(),
    rm: async (p) => ({ removed: await node.remove(str(p, 'cid')) }),
    verify: async (p, { signal, progress }) => await node.verify(typeof p.cid === 'string' ? p.cid : undefined, { signal, onProgress: progress }),
    perf: async (p, { signal }) => await node.perf(str(p, 'peer'), num(p, 'bytes') ?? 1024 ** 3, signal)
  }
}

export async function startControlServer (dataDir: string, handlers: Record<string, ControlHandler>): Promise<Server> {
  const path = socketPath(dataDir)
  if (await isAlive(path)) throw new Imgp2pError(`a daemon is already running for data dir ${dataDir}`)
  await unlink(path).catch(() => {})
  const server = createServer((sock) => { serveConnection(sock, handlers) })
  // Create the socket already private: no window in which others could connect.
  const oldMask = process.umask(0o177)
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(path, () => { server.off('error', reject); resolve() })
    })
  } finally {
    process.umask(oldMask)
  }
  await chmod(path, 0o600)
  return server
}

async function isAlive (path: string): Promise<boolean> {
  return await new Promise(resolve => {
    const s = createConnection(path)
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { resolve(false) })
  })
}

function serveConnection (sock: Socket, handlers: Record<string, ControlHandler>): void {
  const abort = new AbortController()
  let buf = ''
  let started = false
  const send = (o: object): void => { if (!sock.destroyed) sock.write(JSON.stringify(o) + '\n') }
  sock.setEncoding('utf8')
  sock.on('close', () => { abort.abort(new Error('client went away')) })
  sock.on('error', () => {})
  sock.on('data', (data: string) => {
    if (started) return
    buf += data
    if (buf.length > MAX_REQUEST_BYTES) { sock.destroy(); return }
    const nl = buf.indexOf('\n')
    if (nl < 0) return
    started = true
    let req: { method?: unknown, params?: unknown }
    try { req = JSON.parse(buf.slice(0, nl)) } catch { send({ ok: false, error: { name: 'UsageError', message: 'malformed control request' } }); sock.end(); return }
    const handler = typeof req.method === 'string' ? handlers[req.method] : undefined
    if (handler == null) { send({ ok: false, error: { name: 'UsageError', message: `unknown method ${String(req.method)}` } }); sock.end(); return }
    const params = (typeof req.params === 'object' && req.params != null ? req.params : {}) as Record<string, unknown>
    handler(params, { signal: abort.signal, progress: (p) => { send({ event: 'progress', ...p }) } }).then(
      (result) => { send({ ok: true, result }); sock.end() },
      (err: Error) => { send({ ok: false, error: { name: err.name, message: err.message } }); sock.end() }
    )
  })
}

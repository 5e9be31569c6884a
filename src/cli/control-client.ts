/** Talks to the local daemon over its control socket (see src/node/control-server.ts). */
import { createConnection } from 'node:net'
import { DaemonNotRunningError, reviveError } from '../errors.js'
import { socketPath } from '../node/control-server.js'

export interface CallOptions {
  onProgress?: (p: Record<string, unknown>) => void
  signal?: AbortSignal
}

export async function callDaemon<T> (dataDir: string, method: string, params: object = {}, options: CallOptions = {}): Promise<T> {
  const path = socketPath(dataDir)
  return await new Promise<T>((resolve, reject) => {
    const sock = createConnection(path)
    let buf = ''
    let settled = false
    const settle = (fn: () => void): void => { if (!settled) { settled = true; fn() } }
    const onAbort = (): void => { sock.destroy(); settle(() => { reject(options.signal?.reason ?? new Error('aborted')) }) }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    sock.setEncoding('utf8')
    sock.on('connect', () => { sock.write(JSON.stringify({ method, params }) + '\n') })
    sock.on('error', (err: NodeJS.ErrnoException) => {
      settle(() => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
          reject(new DaemonNotRunningError(`no imgp2p daemon is running for data dir ${dataDir} (start one with: imgp2p daemon --data-dir ${dataDir})`))
        } else if (err.code === 'EACCES') {
          reject(new DaemonNotRunningError(`permission denied on ${path}: run as the user that runs the daemon`))
        } else reject(err)
      })
    })
    sock.on('data', (data: string) => {
      buf += data
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        const msg = JSON.parse(line) as { event?: string, ok?: boolean, result?: T, error?: { name: string, message: string } }
        if (msg.event === 'progress') options.onProgress?.(msg as Record<string, unknown>)
        else if (msg.ok === true) settle(() => { resolve(msg.result as T) })
        else if (msg.ok === false && msg.error != null) { const e = msg.error; settle(() => { reject(reviveError(e.name, e.message)) }) }
      }
    })
    sock.on('close', () => {
      options.signal?.removeEventListener('abort', onAbort)
      settle(() => { reject(new DaemonNotRunningError(`the daemon for ${dataDir} closed the connection without an answer (did it stop?)`)) })
    })
  })
}

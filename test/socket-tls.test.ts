/**
 * TLS attached to the TCP socket (src/node/socket-tls.ts): it speaks the
 * libp2p TLS handshake with @libp2p/tls peers in both roles, and hands TLS
 * the bytes the connection read before the takeover.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { ConnectionEncrypter, Libp2p, Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { createLibp2p } from 'libp2p'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { type Server, type Socket, createServer, connect as netConnect } from 'node:net'
import { connect as tlsConnect, TLSSocket } from 'node:tls'
import { Uint8ArrayList } from 'uint8arraylist'
import { afterEach, describe, expect, it } from 'vitest'
import { socketTls, takeOver, type TcpConnection } from '../src/node/socket-tls.js'
import { TlsMessageStream } from '../src/node/tls-message-stream.js'
import { defaultLogger } from '@libp2p/logger'
import type { MessageStream } from '@libp2p/interface'

const ECHO = '/test/echo/1.0.0'
let nodes: Libp2p[] = []
afterEach(async () => {
  await Promise.all(nodes.map(async n => await n.stop()))
  nodes = []
})

async function node (encrypter: () => (components: never) => ConnectionEncrypter): Promise<Libp2p> {
  const n = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [encrypter() as never, noise()],
    streamMuxers: [yamux()]
  })
  await n.handle(ECHO, (stream: Stream) => {
    stream.addEventListener('message', (evt) => { stream.send(evt.data) })
    stream.addEventListener('remoteCloseWrite', () => { stream.close().catch(() => {}) })
  })
  nodes.push(n)
  return n
}

/** Dial `to` from `from`, echo `bytes` through it, and return what came back and the encryption used. */
async function echo (from: Libp2p, to: Libp2p, bytes: Uint8Array): Promise<{ back: Uint8Array, encryption?: string }> {
  const conn = await from.dial(to.getMultiaddrs()[0])
  const stream = await conn.newStream(ECHO)
  const got = new Uint8ArrayList()
  const done = new Promise<void>((resolve, reject) => {
    stream.addEventListener('message', (evt) => {
      got.append(evt.data)
      if (got.byteLength >= bytes.length) resolve()
    })
    stream.addEventListener('close', (evt) => { if (evt.error != null) reject(evt.error) })
  })
  for (let i = 0; i < bytes.length; i += 65536) stream.send(bytes.subarray(i, i + 65536))
  await done
  await stream.close()
  return { back: got.subarray(), encryption: conn.encryption }
}

describe('TLS on the socket', () => {
  it('interoperates with @libp2p/tls as client and as server, and with itself', async () => {
    const ours = await node(socketTls as never)
    const theirs = await node(tls as never)
    const ours2 = await node(socketTls as never)
    const data = randomBytes(1 << 20)
    for (const [a, b] of [[ours, theirs], [theirs, ours], [ours, ours2]]) {
      const { back, encryption } = await echo(a, b, data)
      expect(encryption).toBe('/tls/1.0.0')
      expect(Buffer.compare(Buffer.from(back), data)).toBe(0)
    }
  })

  it('hands TLS the bytes the connection had read before the takeover', async () => {
    const key = readFileSync(new URL('./fixtures/tls-key.pem', import.meta.url))
    const cert = readFileSync(new URL('./fixtures/tls-cert.pem', import.meta.url))
    let server: Server | undefined
    try {
      const received = await new Promise<string>((resolve, reject) => {
        server = createServer((raw: Socket) => {
          // Stand-in for a libp2p TCP connection that read the ClientHello into its buffer.
          const readBuffer = new Uint8ArrayList()
          raw.on('data', (d: Buffer) => { readBuffer.append(d) })
          const fake = { socket: raw, readBuffer, pause: () => { raw.pause() }, abort: (err: Error) => { reject(err) } } as unknown as TcpConnection
          setTimeout(() => {
            expect(readBuffer.byteLength).toBeGreaterThan(0)
            const tlsSocket = takeOver(fake, r => new TLSSocket(r, { isServer: true, key, cert }))
            let text = ''
            tlsSocket.on('data', (d: Buffer) => { text += d.toString() })
            tlsSocket.on('end', () => { resolve(text); tlsSocket.end() })
            tlsSocket.on('error', reject)
          }, 200)
        }).listen(0, '127.0.0.1', () => {
          const port = (server?.address() as { port: number }).port
          const raw = netConnect(port, '127.0.0.1', () => {
            const c = tlsConnect({ socket: raw, rejectUnauthorized: false }, () => { c.end('hello over TLS') })
            c.on('error', reject)
          })
        })
      })
      expect(received).toBe('hello over TLS')
    } finally {
      server?.close()
    }
  })

  it('sends what one tick hands it as one TLS record', async () => {
    const key = readFileSync(new URL('./fixtures/tls-key.pem', import.meta.url))
    const cert = readFileSync(new URL('./fixtures/tls-cert.pem', import.meta.url))
    let server: Server | undefined
    let client: TLSSocket | undefined
    try {
      // The far end counts records: Node's TLS emits one 'data' per record read.
      const reads: number[] = []
      const total = 3 * (12 + 5 + 12 + 5)
      const gotAll = new Promise<void>((resolve) => {
        server = createServer((raw: Socket) => {
          const s = new TLSSocket(raw, { isServer: true, key, cert })
          let n = 0
          s.on('data', (d: Buffer) => { reads.push(d.length); n += d.length; if (n >= total) resolve() })
        }).listen(0, '127.0.0.1')
      })
      await new Promise<void>((resolve) => { server?.once('listening', resolve) })
      const port = (server?.address() as { port: number }).port
      client = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false })
      await new Promise<void>((resolve, reject) => { client?.once('secureConnect', resolve); client?.once('error', reject) })
      const transport = new EventTarget() as unknown as MessageStream
      Object.assign(transport, { log: defaultLogger().forComponent('test'), direction: 'outbound', close: async () => {}, abort: () => {} })
      const ms = new TlsMessageStream(transport, client)
      // Three ticks, each like yamux sending two small frames: a header and its body, apiece.
      for (let tick = 0; tick < 3; tick++) {
        ms.send(new Uint8ArrayList(new Uint8Array(12), new Uint8Array(5)))
        ms.send(new Uint8ArrayList(new Uint8Array(12), new Uint8Array(5)))
        await new Promise(resolve => setTimeout(resolve, 50))
      }
      await gotAll
      expect(reads.reduce((a, b) => a + b, 0)).toBe(total)
      expect(reads).toEqual([34, 34, 34])
    } finally {
      client?.destroy()
      server?.close()
    }
  })
})

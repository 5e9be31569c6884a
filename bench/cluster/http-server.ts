/**
 * The unicast baseline's server: Node's http module serving the files of one
 * directory, as a plain web server would. Self-contained (node: imports only)
 * so Node 24 can run this .ts file directly.
 *
 *   node http-server.ts DIR HOST PORT
 *
 * Prints "ready" once listening.
 */
import { createServer } from 'node:http'
import { createReadStream, statSync } from 'node:fs'
import { basename, join } from 'node:path'

const [dir, host, port] = process.argv.slice(2)
if (dir === undefined || host === undefined || port === undefined) {
  process.stderr.write('usage: http-server DIR HOST PORT\n')
  process.exit(2)
}

const server = createServer((req, res) => {
  const name = basename(decodeURIComponent((req.url ?? '/').split('?')[0]))
  const path = join(dir, name)
  let size: number
  try { size = statSync(path).size } catch {
    res.writeHead(404).end()
    return
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size })
  createReadStream(path, { highWaterMark: 1 << 20 }).pipe(res)
})
server.listen(Number(port), host, () => { process.stdout.write('ready\n') })
process.on('SIGTERM', () => { server.close(); process.exit(0) })

/**
 * node dist/bench/verify.js [--size 1GiB] [--rounds 3]
 *
 * How fast `imgp2p verify` reads back and hashes a cached image, against
 * `openssl dgst -sha256` over the same bytes in the same run: one OpenSSL
 * hash over the file, the floor for any SHA-256 check of it (coreutils'
 * `sha256sum` is printed too; without SHA extensions it is far slower).
 * The file is in the page cache for all three: this measures hashing and
 * the read path, not the disk. A real daemon, driven by the real CLI.
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { BIN, startDaemonProcess } from '../src/cli/daemon-process.js'
import { writeSampleImage } from '../src/util/sample-image.js'
import { parseSize } from '../src/util/size.js'

const { values } = parseArgs({ options: { size: { type: 'string', default: '1GiB' }, rounds: { type: 'string', default: '3' } } })
const size = parseSize(values.size as string)
const rounds = Number(values.rounds)

function timed (cmd: string, args: string[]): number {
  const t0 = performance.now()
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
  return (performance.now() - t0) / 1000
}

const dir = await mkdtemp(join(tmpdir(), 'imgp2p-bench-verify-'))
const daemon = await startDaemonProcess({ dataDir: join(dir, 'data') })
try {
  const file = join(dir, 'disk.raw')
  await writeSampleImage(file, size)
  const add = spawnSync(process.execPath, [BIN, 'add', file, '--data-dir', join(dir, 'data')], { encoding: 'utf8' })
  if (add.status !== 0) throw new Error(`add failed: ${add.stderr}`)
  const cid = add.stdout.trim().split('\n').at(-1) as string
  const cached = join(dir, 'data', 'images', cid)
  const mb = size / 1e6
  console.log(`image ${(size / 2 ** 20).toFixed(0)} MiB, ${cid}`)
  for (let r = 0; r < rounds; r++) {
    const ref = timed('openssl', ['dgst', '-sha256', cached])
    const ours = timed(process.execPath, [BIN, 'verify', cid, '--data-dir', join(dir, 'data')])
    const coreutils = timed('sha256sum', [cached])
    console.log(`round ${r + 1}: openssl ${(mb / ref).toFixed(0)} MB/s (${ref.toFixed(2)} s), imgp2p verify ${(mb / ours).toFixed(0)} MB/s (${ours.toFixed(2)} s, CLI start included) = ${(ref / ours).toFixed(2)} x openssl's rate; sha256sum ${(mb / coreutils).toFixed(0)} MB/s`)
  }
} finally {
  await daemon.stop()
  await rm(dir, { recursive: true, force: true })
}

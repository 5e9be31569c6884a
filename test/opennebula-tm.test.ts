/**
 * The OpenNebula transfer manager driver (contrib/opennebula), run the way
 * oned runs it: `clone fe:SOURCE host:DST vmid dsid` on the front-end, with
 * real imgp2p daemons behind it. What OpenNebula itself provides is stood in
 * for by small scripts in a temp dir: `ssh` runs the command as that host
 * would (its own data dir), `onevm` and the xpath helper say what size the
 * VM's template asks for, `qemu-img` records what it was asked to do.
 */
import { chmod, mkdir, readFile, readlink, readdir, stat, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, startDaemonProcess, type DaemonProcess } from '../src/cli/daemon-process.js'
import { runCommand as run, sha256File, tempDir, writeImage } from './helpers.js'

async function script (path: string, body: string): Promise<void> {
  await writeFile(path, `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`)
  await chmod(path, 0o755)
}

const MiB = 1024 * 1024
const CONTRIB = resolve('contrib/opennebula')
let dir: string
let cleanup: () => Promise<void>
let daemons: DaemonProcess[] = []
let clone: string
let env: NodeJS.ProcessEnv
let image: string

describe('OpenNebula TM driver (contrib/opennebula)', () => {
  beforeAll(async () => {
    ({ path: dir, cleanup } = await tempDir('imgp2p-one-'))
    image = join(dir, 'datastores', '1', '8f3a2c')
    await mkdir(join(dir, 'datastores', '1'), { recursive: true })
    await writeImage(image, 6 * MiB + 4321, { zeroEvery: 4 })
    const fe = await startDaemonProcess({ dataDir: join(dir, 'fe'), origin: true })
    const hosts = await Promise.all(['node1', 'node2'].map(async h => await startDaemonProcess({ dataDir: join(dir, h), peers: [fe.addrs[0]] })))
    daemons = [fe, ...hosts]

    // A remotes tree as OpenNebula lays it out, with the driver installed by its own script.
    const remotes = join(dir, 'remotes')
    await mkdir(join(remotes, 'tm', 'ssh'), { recursive: true })
    await mkdir(join(remotes, 'datastore'), { recursive: true })
    for (const action of ['clone', 'ln', 'mvds', 'delete', 'context']) await script(join(remotes, 'tm', 'ssh', action), 'exit 0')
    const installed = await run(join(CONTRIB, 'install.sh'), [remotes])
    expect(installed.code, installed.stderr).toBe(0)
    clone = join(remotes, 'tm', 'imgp2p', 'clone')

    // xpath.rb prints each value followed by a NUL; here the sizes come from the fake template.
    await script(join(remotes, 'datastore', 'xpath.rb'), 'xml=$(cat); for p in "${@:2}"; do v=$(grep -o "<$(basename "$p")>[0-9]*<" <<<"$xml" | tr -dc 0-9 || true); printf "%s\\0" "$v"; done')
    const bin = join(dir, 'bin')
    await mkdir(bin)
    await script(join(bin, 'ssh'), `while [ "$1" = -o ]; do shift 2; done\nhost=$1; shift\nIMGP2P_DATA_DIR=${dir}/$host exec bash -c "$1"`)
    await script(join(bin, 'onevm'), `[ "$1 $2 $3" = "show -x $3" ]\nif [ "$3" = 43 ]; then echo "<VM><TEMPLATE><DISK><SIZE>40</SIZE><ORIGINAL_SIZE>7</ORIGINAL_SIZE></DISK></TEMPLATE></VM>"; else echo "<VM><TEMPLATE><DISK><SIZE>7</SIZE><ORIGINAL_SIZE>7</ORIGINAL_SIZE></DISK></TEMPLATE></VM>"; fi`)
    await script(join(bin, 'qemu-img'), `echo "$*" >> ${dir}/qemu-img.log`)
    env = { PATH: `${bin}:${process.env.PATH ?? ''}`, IMGP2P: BIN, IMGP2P_FE_DATA_DIR: join(dir, 'fe'), IMGP2P_PULL_TIMEOUT: '30' }
  })
  afterAll(async () => {
    await Promise.all(daemons.map(async d => { await d.stop() }))
    await cleanup?.()
  })

  it('installs clone and links every other action to the ssh driver', async () => {
    const tm = join(dir, 'remotes', 'tm', 'imgp2p')
    expect((await readdir(tm)).sort()).toEqual(['clone', 'context', 'delete', 'imgp2p.conf', 'ln', 'mvds'])
    expect(await readlink(join(tm, 'mvds'))).toBe('../ssh/mvds')
    expect((await stat(clone)).mode & 0o111).not.toBe(0)
  })

  it('clones one image onto two hosts at once from the swarm, and grows the disk a template asks to', async () => {
    const dst = (h: string, vm: number): string => join(dir, h, 'datastores', '0', String(vm), 'disk.0')
    const runs = await Promise.all([
      run(clone, [`localhost:${image}`, `node1:${dst('node1', 42)}`, '42', '0'], env),
      run(clone, [`localhost:${image}`, `node2:${dst('node2', 43)}`, '43', '0'], env)
    ])
    const want = await sha256File(image)
    for (const [i, r] of runs.entries()) {
      expect(r.code, r.stderr).toBe(0)
      expect(await sha256File(dst(`node${i + 1}`, 42 + i))).toBe(want)
    }
    expect(await readFile(join(dir, 'node1', 'datastores', '0', '.monitor'), 'utf8')).toBe('ssh\n')
    expect(runs[0].stderr).toMatch(/is bafyrei[a-z2-7]+ \((added|unchanged since added:) 6\.0 MiB/)
    // Only VM 43's template asks for more than the image holds.
    expect((await readFile(join(dir, 'qemu-img.log'), 'utf8')).trim().split('\n')).toEqual([`resize ${dst('node2', 43)} 40M`])
  })

  it('does not read the image again for the next VM, and a host that has it copies locally', async () => {
    const dst = join(dir, 'node1', 'datastores', '0', '44', 'disk.1')
    const r = await run(clone, [`localhost:${image}`, `node1:${dst}`, '44', '0'], env)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain('unchanged since added: 6.0 MiB')
    expect(await sha256File(dst)).toBe(await sha256File(image))
  })

  it('fails with one line naming the host when its daemon is not running, and leaves no disk', async () => {
    const dst = join(dir, 'node3', 'datastores', '0', '45', 'disk.0')
    const r = await run(clone, [`localhost:${image}`, `node3:${dst}`, '45', '0'], env)
    expect(r.code).not.toBe(0)
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^imgp2p clone: pulling bafyrei\S+ to node3:\S+disk\.0 failed/)
    await expect(stat(dst)).rejects.toThrow(/ENOENT/)
  })

  it('rejects arguments that are not host:/path with usage exit 64', async () => {
    const r = await run(clone, [image, 'node1:relative/disk.0'], env)
    expect(r.code).toBe(64)
    expect(r.stderr).toMatch(/^imgp2p clone: expected host:\/absolute\/path/)
  })

  it('fails clearly when the image does not exist on the front-end', async () => {
    const r = await run(clone, [`localhost:${join(dir, 'datastores', '1', 'missing')}`, `node1:${join(dir, 'x', 'disk.0')}`, '46', '0'], env)
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/no such file: .*missing/)
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^imgp2p clone: could not add .*missing on localhost/)
  })
})

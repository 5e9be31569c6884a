/** Shared fixtures for the swarm and CLI tests: temp dirs, images, nodes, fault-injecting stores. */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { afterEach } from 'vitest'
import type { ChunkFile } from '../src/cache/files.js'
import { FsImageStore } from '../src/cache/image-store.js'
import type { ScrubOptions } from '../src/cache/scrub.js'
import type { ExportResult, ImageExporter, ImageInfo, ImageStore, ImportOptions, ImportResult, PartialImage, VerifyResult } from '../src/cache/types.js'
import type { Manifest } from '../src/chunking/manifest.js'
import { Imgp2pNode, type NodeOptions } from '../src/node/node.js'

/** Why a test that builds network namespaces cannot run here (it needs root, `ip netns` and `tc`), or undefined. */
export function netnsUnavailable (): string | undefined {
  if (process.platform !== 'linux') return 'not Linux'
  if (process.getuid?.() !== 0) return 'not root'
  if (spawnSync('ip', ['netns', 'list']).status !== 0) return '`ip netns` is unavailable'
  if (spawnSync('tc', ['-V']).status !== 0) return '`tc` is unavailable'
  return undefined
}

export async function tempDir (prefix = 'imgp2p-test-'): Promise<{ path: string, cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, cleanup: async () => { await rm(path, { recursive: true, force: true, maxRetries: 5 }) } }
}

export { sha256File, textBytes as textChunk, writeSampleImage as writeImage } from '../src/util/sample-image.js'

/**
 * For a describe block whose tests start nodes: a temp dir per test, and
 * what to stop after each test, last started first.
 */
export function perTest (): { dir: (prefix?: string) => Promise<string>, track: <T extends { stop: () => Promise<void> }>(n: T) => T } {
  let cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {})
    cleanups = []
  })
  return {
    dir: async (prefix) => { const t = await tempDir(prefix); cleanups.push(t.cleanup); return t.path },
    track: (n) => { cleanups.push(async () => { await n.stop() }); return n }
  }
}

export interface Run { code: number, stdout: string, stderr: string }

/** Run a command to its end as a user's shell would, collecting what it printed. */
export async function runCommand (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return await new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    p.on('error', reject)
    p.on('close', (code) => { resolve({ code: code ?? -1, stdout, stderr }) })
  })
}

/** A ChunkFile's methods bound to it, to override one of them in a test: `{ ...passThrough(fh), write }`. */
export function passThrough (fh: ChunkFile): ChunkFile {
  return {
    write: async (buf, off, len, pos) => await fh.write(buf, off, len, pos),
    read: async (buf, off, len, pos) => await fh.read(buf, off, len, pos),
    truncate: async len => { await fh.truncate(len) },
    datasync: async () => { await fh.datasync() },
    sync: async () => { await fh.sync() },
    close: async () => { await fh.close() }
  }
}

/** Start an in-process node on 127.0.0.1 with quick timers for tests. */
export async function startNode (dataDir: string, opts: Partial<NodeOptions> = {}): Promise<Imgp2pNode> {
  return await Imgp2pNode.create({
    dataDir,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    announceBatchMs: 100,
    announceSteadyMs: 2000,
    completeNewsDelayMs: 100,
    choker: { rechokeIntervalMs: 1000 },
    seed: 1,
    // How busy the test machine is must not decide what a test sees: the
    // compression gate is driven only by tests that hand it a clock.
    compressWhenCpuBound: opts.cpuClock == null,
    ...opts
  })
}

export function addrOf (node: Imgp2pNode): string {
  const a = node.addrs().find(x => x.includes('127.0.0.1'))
  if (a == null) throw new Error('node has no loopback address')
  return a
}

export async function waitFor (cond: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

export interface ServeFaults {
  /** Delay every chunk read for serving (a slow disk or a slow peer). */
  readDelayMs?: number
  /** Flip a byte of these chunks when serving them. */
  corrupt?: (index: number) => boolean
  /** Delay opening a pull's files (a busy disk). */
  openPartialDelayMs?: number
  /** Opening a pull's files fails with this (disk full, say). */
  openPartialError?: Error
}

/** A store with injected faults in serving chunks and in opening a pull's files; everything else goes to the real one. */
export class FaultyStore implements ImageStore, ImageExporter {
  constructor (private readonly inner: FsImageStore, private readonly faults: ServeFaults) {}
  get dataDir (): string { return this.inner.dataDir }
  static async open (dataDir: string, faults: ServeFaults): Promise<FaultyStore> {
    return new FaultyStore(await FsImageStore.open(dataDir), faults)
  }

  async importFile (file: string, options?: ImportOptions): Promise<ImportResult> { return await this.inner.importFile(file, options) }
  addedImages (): string[] { return this.inner.addedImages() }
  async putManifest (cid: CID, bytes: Uint8Array, options?: { durable?: boolean }): Promise<Manifest> { return await this.inner.putManifest(cid, bytes, options) }
  async getManifest (cid: CID): Promise<Manifest | undefined> { return await this.inner.getManifest(cid) }
  async getManifestBytes (cid: CID): Promise<Uint8Array | undefined> { return await this.inner.getManifestBytes(cid) }
  async list (): Promise<ImageInfo[]> { return await this.inner.list() }
  async info (cid: CID): Promise<ImageInfo | undefined> { return await this.inner.info(cid) }
  async completePath (cid: CID): Promise<string | undefined> { return await this.inner.completePath(cid) }
  async diskUsage (cid: CID): Promise<{ bytes: number, changedMs: number } | undefined> { return await this.inner.diskUsage(cid) }
  async verify (cid: CID, options?: ScrubOptions): Promise<VerifyResult> { return await this.inner.verify(cid, options) }
  async openPartial (cid: CID, manifest: Manifest): Promise<PartialImage> {
    if (this.faults.openPartialDelayMs != null) await new Promise(resolve => setTimeout(resolve, this.faults.openPartialDelayMs))
    if (this.faults.openPartialError != null) throw this.faults.openPartialError
    return await this.inner.openPartial(cid, manifest)
  }
  async remove (cid: CID): Promise<boolean> { return await this.inner.remove(cid) }
  async close (): Promise<void> { await this.inner.close() }
  async exportTo (cid: CID, path: string, signal?: AbortSignal): Promise<ExportResult> { return await this.inner.exportTo(cid, path, signal) }

  async readChunk (cid: CID, index: number): Promise<Uint8Array | undefined> {
    if (this.faults.readDelayMs != null) await new Promise(resolve => setTimeout(resolve, this.faults.readDelayMs))
    const data = await this.inner.readChunk(cid, index)
    if (data == null || this.faults.corrupt?.(index) !== true) return data
    const bad = new Uint8Array(data)
    bad[bad.length >> 1] ^= 0xff
    return bad
  }
}

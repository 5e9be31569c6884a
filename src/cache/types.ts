/**
 * The on-disk cache of one host: manifests, complete images and partial pulls.
 *
 * Layout under the data dir (see README):
 *   manifests/<cid>          the manifest's encoded bytes, written only after they hash to <cid>
 *   images/<cid>             complete images, made visible by rename
 *   partial/<cid>.part       a pull in progress (sparse file of the full size)
 *   partial/<cid>.have       which chunks of .part are verified (written atomically)
 *   imports.json             the images added here, and the files they came from by identity (import-index.ts)
 */
import type { CID } from 'multiformats/cid'
import type { Manifest } from '../chunking/manifest.js'
import type { Bitfield } from '../util/bitfield.js'
import type { ScrubOptions } from './scrub.js'

export interface ImageInfo {
  cid: string
  size: number
  chunkSize: number
  chunkCount: number
  /** Verified chunks (zero chunks count as held). */
  haveCount: number
  complete: boolean
}

export interface ImportOptions {
  chunkSize?: number
  signal?: AbortSignal
  onProgress?: (bytesDone: number, totalBytes: number) => void
}

export interface ImportResult {
  cid: CID
  manifest: Manifest
  /** The file was added before and has not changed since: nothing was read. */
  reused: boolean
}

export interface ImageStore {
  readonly dataDir: string

  /**
   * Chunk `file`, keep a copy in the cache and return the image CID (the
   * manifest's CID). A file added before and unchanged since is not read again.
   */
  importFile (file: string, options?: ImportOptions): Promise<ImportResult>
  /** The images importFile brought into this cache, across restarts, until removed. */
  addedImages (): string[]

  /**
   * Store manifest bytes after checking they hash to `cid` and decode; returns
   * the decoded manifest. With `durable: false` it returns before the file is
   * on disk: a pull then starts at once, and its progress record and its
   * finished image wait for the manifest (see openPartial).
   */
  putManifest (cid: CID, bytes: Uint8Array, options?: { durable?: boolean }): Promise<Manifest>
  getManifest (cid: CID): Promise<Manifest | undefined>
  getManifestBytes (cid: CID): Promise<Uint8Array | undefined>

  list (): Promise<ImageInfo[]>
  info (cid: CID): Promise<ImageInfo | undefined>
  /** Path of the complete image, or undefined if it is not complete here. */
  completePath (cid: CID): Promise<string | undefined>
  /**
   * What the image's files take on disk (allocated bytes: images are sparse)
   * and when they last changed: the complete image, else the partial pull's.
   * Undefined when neither is here.
   */
  diskUsage (cid: CID): Promise<{ bytes: number, changedMs: number } | undefined>

  /** Open (or resume) a pull of the image described by `manifest`. One writer per image. */
  openPartial (cid: CID, manifest: Manifest): Promise<PartialImage>

  /**
   * Read chunk `index` of a complete image, or a verified chunk of a partial
   * one (through the open PartialImage if there is one). Undefined when we don't hold it.
   */
  readChunk (cid: CID, index: number): Promise<Uint8Array | undefined>

  /**
   * Read back and hash every chunk held of an image (scrub.ts). A complete
   * image with bad chunks goes back to partial/, lacking just those: no peer
   * is served them and the next pull fetches only them. A partial image's
   * record forgets its bad chunks. An image a pull holds open is left alone
   * ('busy'). NotFoundError when the cache has no such image.
   */
  verify (cid: CID, options?: ScrubOptions): Promise<VerifyResult>

  /** Remove an image (complete or partial) and its manifest. */
  remove (cid: CID): Promise<boolean>

  /** Release open file handles (the node is stopping). */
  close (): Promise<void>
}

export interface PartialImage {
  readonly cid: CID
  readonly manifest: Manifest
  /** Verified chunks, zero chunks included. */
  readonly have: Bitfield
  readonly complete: boolean

  /**
   * Verify `bytes` against the chunk's CID, then write them at the chunk's
   * offset (and to the attached output, if any). Throws ChunkHashMismatchError
   * and writes nothing when they do not match. Returns false if the chunk was held already.
   */
  writeChunk (index: number, bytes: Uint8Array | readonly Uint8Array[]): Promise<boolean>

  /**
   * Also materialise the image at `path` as chunks arrive (no copy after the
   * download). Chunks already verified are copied in now. The file appears at
   * `path` only when complete (written beside it, then renamed). Several
   * outputs may be attached (one per pull sharing this image); the same path
   * twice is one output. close() deletes the unfinished outputs.
   */
  attachOutput (path: string, options?: { signal?: AbortSignal }): Promise<void>

  readChunk (index: number): Promise<Uint8Array | undefined>

  /** Persist the record of verified chunks (also done periodically by the implementation). */
  flush (): Promise<void>

  /** When every chunk is held: sync, rename into images/, finish the output. Returns the cache path. */
  finish (): Promise<string>

  /** Release file handles; keeps what was verified for a later resume. */
  close (): Promise<void>
}

export interface VerifyResult {
  cid: string
  /** What the image was when the check began; 'busy': a pull has it open, nothing was checked. */
  state: 'complete' | 'partial' | 'busy'
  /** Chunks read back and hashed. */
  checked: number
  /** Chunks that no longer match their CID; the cache no longer counts them as held. */
  bad: number[]
}

export interface ExportResult {
  path: string
  /** 'reflink' when the file system shared the blocks (copy-on-write), else 'copy'. */
  method: 'reflink' | 'copy'
}

export interface ImageExporter {
  /** Materialise a complete cached image at `path` (atomically: temp file beside it, then rename). */
  exportTo (cid: CID, path: string, signal?: AbortSignal): Promise<ExportResult>
}

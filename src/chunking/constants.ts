/**
 * Chunking constants, with the reason for each value.
 */

/**
 * Chunk size for new images of 128 MiB and more (smaller ones: chunkSizeFor):
 * 512 KiB, chosen by two measurements.
 *
 * - The simulator's chunk sweep (the paper's piece-size experiment: 60 hosts,
 *   9.77 GB, bench/sim/results/chunk-sweep.csv): mean time per host is best
 *   at 512 KiB (82.1 s; 256 KiB 83.3 s, 1 MiB 82.9 s), makespan 1.12 x T_min
 *   (256 KiB 1.11 x, 1 MiB 1.20 x); 16 MiB is clearly worse (1.29 x).
 * - The daemon (`npm run bench:pull -- --chunk-size ...`, two processes):
 *   12.3-12.7 core-s per GB moved at 512 KiB against 15-16 at 256 KiB and
 *   18 at 1 MiB, interleaved runs on the same machine.
 * A 9.77 GB image then has 18,635 chunks: a 0.8 MB manifest.
 */
export const DEFAULT_CHUNK_SIZE = 512 * 1024

/**
 * Smaller images get smaller chunks, down to this size, so that they still
 * have CHUNKS_PER_IMAGE_TARGET chunks (see chunkSizeFor).
 */
export const MIN_DEFAULT_CHUNK_SIZE = 128 * 1024
export const CHUNKS_PER_IMAGE_TARGET = 256

/**
 * The chunk size `imgp2p add` uses when none is given: DEFAULT_CHUNK_SIZE,
 * halved (not below MIN_DEFAULT_CHUNK_SIZE) while the image would have fewer
 * than CHUNKS_PER_IMAGE_TARGET chunks. Images of 128 MiB and more keep 512 KiB.
 *
 * Why: a host asks a peer for two chunks at least, and its own REQUESTs and
 * HAVEs to that peer queue behind whatever chunk data it is sending the peer
 * on the same connection. In the cluster benchmark (16 hosts at 20 Mbit/s,
 * each link carrying ~1/9 of an uplink) a REQUEST took 0.3 s at the median
 * and 4.2 s at the 90th percentile with 512 KiB chunks of a 64 MiB image:
 * requests expired unanswered and were fetched twice (hosts received 1.16 x
 * the image). With 256 KiB chunks the makespan went from 1.53-1.70 to
 * 1.36-1.37 x T_min, duplicate chunk data from 8-9 % to 2-5 %; an 8 MiB image at N = 8
 * from 2.29 to 1.64 x T_min with 128 KiB chunks (bench/cluster/FINDINGS.md,
 * session 5). A 9.77 GB image has 18,635 chunks either way: there the queue
 * ahead of a REQUEST is a few ms of a 1 Gbit/s link.
 */
export function chunkSizeFor (imageBytes: number): number {
  let size = DEFAULT_CHUNK_SIZE
  while (size > MIN_DEFAULT_CHUNK_SIZE && imageBytes < CHUNKS_PER_IMAGE_TARGET * size) size /= 2
  return size
}

/**
 * Largest chunk a manifest may declare. Readers allocate a chunk-sized buffer
 * from a number a peer sent us, so it must be bounded.
 */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024

/** Multicodec for raw bytes: the codec of every chunk CID. */
export const RAW_CODEC = 0x55
/** Multicodec for dag-cbor: the codec of manifest (image) CIDs. */
export const DAG_CBOR_CODEC = 0x71
/** Multihash code for sha2-256: the only hash imgp2p accepts. */
export const SHA2_256_CODE = 0x12

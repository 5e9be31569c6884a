/**
 * Chunking constants, with the reason for each value.
 */

/**
 * Default chunk size for new images: 512 KiB, chosen by two measurements.
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

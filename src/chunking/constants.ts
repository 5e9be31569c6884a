/**
 * Chunking constants, with the reason for each value.
 */

/**
 * Default chunk size for new images: 1 MiB.
 *
 * Provisional. The transport is indifferent between 64 KiB and 1 MiB (yamux
 * frames are <= 64 KiB, STACK-FACTS), so the choice trades manifest size and
 * per-chunk overhead (one hash, one request, one bit) against how finely a
 * swarm can share a partly downloaded image. The simulation in src/sim is to
 * justify or replace this number.
 */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024

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

// The rate limits' bucket region: a memfd the supervisor creates once and every worker it starts
// maps (its fd 4), so that an output's rate= holds for the output, whichever workers its packets
// spread over (PACKET_FANOUT). Each bucket is one uint64 word the shim takes tokens from with a
// compare-and-swap (shim/bucket.c), a cache line apart from the next; a word of 0 is a full
// bucket. The supervisor hands the buckets out (src/supervisor/buckets.ts) and zeroes each before
// it gives it to a new output; the workers only take and give back.
//
// Layout (little-endian): a 64-byte header {magic u32, version u32, count u32}, then count x
// BUCKET_WORDS uint64.
import { BUCKET_WORDS } from "../native/abi.ts";

const HEADER_BYTES = 64;
const MAGIC = 0x6d637242; // "Brcm"
const VERSION = 1;

/** The most buckets a region holds: OUTPUT_ENTRY.BUCKET is 1 + an index, in 16 bits. */
export const MAX_BUCKETS = 0xffff;

/** The fd a worker finds the bucket region on (stdio[4]); its argv says --buckets-fd 4. */
export const BUCKETS_FD = 4;

export interface BucketRegion {
  count: number;
  /** The buckets' words, BUCKET_WORDS apart: what the shim is given. */
  words: BigUint64Array;
}

export function bucketRegionBytes(count: number): number {
  return HEADER_BYTES + count * BUCKET_WORDS * 8;
}

/** Writes the header of a fresh (zeroed: every bucket full) region. */
export function initBuckets(bytes: Uint8Array, count: number): BucketRegion {
  if (count > MAX_BUCKETS) throw new Error(`at most ${MAX_BUCKETS} rate-limit buckets`);
  if (bytes.byteLength < bucketRegionBytes(count)) throw new Error("bucket region too small");
  const h = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  h.setUint32(0, MAGIC, true);
  h.setUint32(4, VERSION, true);
  h.setUint32(8, count, true);
  return openBuckets(bytes);
}

/** A region written by initBuckets, possibly in another process. */
export function openBuckets(bytes: Uint8Array): BucketRegion {
  const h = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  if (h.getUint32(0, true) !== MAGIC || h.getUint32(4, true) !== VERSION) throw new Error("not an mcr bucket region");
  const count = h.getUint32(8, true);
  if (count > MAX_BUCKETS || bytes.byteLength < bucketRegionBytes(count)) throw new Error("bucket region truncated");
  return { count, words: new BigUint64Array(bytes.buffer, bytes.byteOffset + HEADER_BYTES, count * BUCKET_WORDS) };
}

/** Makes a bucket full, for the new output it is about to be handed to. */
export function resetBucket(r: BucketRegion, index: number): void {
  Atomics.store(r.words, index * BUCKET_WORDS, 0n);
}

/** A bucket's word (for tests): the tick at which it is empty again; 0 (or any past tick) is full. */
export function bucketWord(r: BucketRegion, index: number): bigint {
  return Atomics.load(r.words, index * BUCKET_WORDS);
}

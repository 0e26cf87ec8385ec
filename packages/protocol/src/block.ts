// Block mode on the data port. After the header frame (kind "block", naming
// one target partition) and the receiver's {ok: true}, both sides exchange
// binary records: a 1-byte type, a 4-byte big-endian payload length, then the
// payload. JSON payloads are validated with the schemas below; the binary
// layouts (chunk, manifest, verify list) are encoded in @hoist/transport.
import { z } from "zod";

export const BLOCK_RECORD = {
  /** Agent → receiver, JSON BlockHello. */
  hello: 0x01,
  /** Receiver → agent: the chunk-hash manifest the receiver holds for this source. */
  manifest: 0x02,
  /** Agent → receiver: one chunk to write at its offset. */
  chunk: 0x03,
  /** Agent → receiver: the hash every listed chunk must have on the target; answered by `verified`. */
  verify: 0x04,
  /** Receiver → agent, JSON BlockVerified. */
  verified: 0x05,
  /** Agent → receiver, JSON BlockFinish: check the filesystem, grow it to the partition, mount it. */
  finish: 0x06,
  /** Receiver → agent, JSON BlockFinished. */
  finished: 0x07,
  /** Either way, JSON {code, message}; the sender closes after it. */
  error: 0x7f,
} as const;

/**
 * Chunk codecs: the payload as is, brotli-compressed, nothing (write zeros), or only the chunk's
 * used byte ranges (the rest of the chunk is zeros): a u32 range count, count × (u32 start, u32
 * end) within the chunk, ascending and apart, then the ranges' bytes one after another.
 */
export const BLOCK_CODEC = { raw: 0, brotli: 1, zero: 2, ranges: 3 } as const;
/** Most ranges one chunk record may carry (more: the chunk is sent whole). */
export const BLOCK_RANGES_MAX = 4096;

export const BLOCK_HASH_BYTES = 32;
export const BLOCK_CHUNK_MIN_BYTES = 64 * 1024;
export const BLOCK_CHUNK_MAX_BYTES = 16 * 1024 * 1024;
export const BLOCK_CHUNK_DEFAULT_BYTES = 4 * 1024 * 1024;

export const BlockHelloSchema = z.object({
  /** Size of the source partition (device or image file) in bytes. */
  sourceBytes: z.number().int().positive(),
  chunkBytes: z
    .number()
    .int()
    .min(BLOCK_CHUNK_MIN_BYTES)
    .max(BLOCK_CHUNK_MAX_BYTES)
    .refine((n) => (n & (n - 1)) === 0, "a power of two"),
  /** Filesystem of the source ("ext4", "xfs", or anything blkid says). */
  fs: z.string().max(40).nullable(),
});
export type BlockHello = z.infer<typeof BlockHelloSchema>;

export const BlockVerifiedSchema = z.object({
  checked: z.number().int().nonnegative(),
  /** Chunk indexes whose content on the target does not hash as expected (at most 1000 listed). */
  mismatched: z.array(z.number().int().nonnegative()),
  mismatchedCount: z.number().int().nonnegative(),
});
export type BlockVerified = z.infer<typeof BlockVerifiedSchema>;

export const BlockFinishSchema = z.object({
  /** Grow the filesystem to fill the target partition when it is larger than the source. */
  grow: z.boolean(),
});

export const BlockFinishedSchema = z.object({
  fs: z.string().nullable(),
  /** What the filesystem check said ("clean", "repaired" or "not checked"). */
  check: z.string(),
  sourceBytes: z.number().int().nonnegative(),
  targetBytes: z.number().int().nonnegative(),
  grown: z.boolean(),
  mounted: z.boolean(),
});
export type BlockFinished = z.infer<typeof BlockFinishedSchema>;

export const BlockErrorSchema = z.object({ code: z.string(), message: z.string() });

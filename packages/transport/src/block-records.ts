// The binary records of a block session (see @hoist/protocol block.ts): a
// 1-byte type, a 4-byte big-endian payload length, the payload. The reader
// buffers what the socket delivers, pauses the socket while too much waits,
// and refuses a record larger than its limit before reading it.
import type { Duplex } from "node:stream";
import { BLOCK_HASH_BYTES, BLOCK_RECORD, HoistError } from "@hoist/protocol";

export interface BlockRecord {
  type: number;
  payload: Buffer;
}

const HEAD_BYTES = 5;

function badRecord(message: string): HoistError {
  return new HoistError("Transport.BadFrame", message, { fix: "Make sure both sides run the same hoist version." });
}

export class RecordReader {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  /** Bytes the waiting `next` needs queued before it can go on (a wake-up per TCP read would be wasted work). */
  private need = 0;

  constructor(
    private readonly stream: Duplex,
    initial: Buffer,
    private readonly maxPayload: number,
    private readonly highWater = 64 * 1024 * 1024,
  ) {
    if (initial.length) this.push(initial);
    stream.on("data", (c: Buffer) => {
      this.push(c);
      if (this.queued > this.highWater) stream.pause();
    });
    stream.on("end", () => this.finish());
    stream.on("close", () => this.finish());
    stream.on("error", (e: Error) => {
      this.failure = new HoistError("Transport.Closed", `the connection failed: ${e.message}`, { retryable: true, cause: e });
      this.finish();
    });
    stream.resume();
  }

  private push(c: Buffer): void {
    this.queue.push(c);
    this.queued += c.length;
    if (this.queued >= this.need) this.wake?.();
  }

  private finish(): void {
    this.ended = true;
    this.wake?.();
  }

  private take(n: number, out: Buffer = Buffer.allocUnsafe(n)): Buffer {
    let at = 0;
    while (at < n) {
      const head = this.queue[0] as Buffer;
      const want = n - at;
      if (head.length <= want) {
        head.copy(out, at);
        at += head.length;
        this.queue.shift();
      } else {
        head.copy(out, at, 0, want);
        this.queue[0] = head.subarray(want);
        at += want;
      }
    }
    this.queued -= n;
    if (this.queued <= this.highWater && this.stream.isPaused()) this.stream.resume();
    return out;
  }

  private peekLength(): number {
    const head = this.queue[0] as Buffer;
    if (head.length >= HEAD_BYTES) return head.readUInt32BE(1);
    const five = Buffer.alloc(HEAD_BYTES);
    let at = 0;
    for (const b of this.queue) {
      at += b.copy(five, at, 0, Math.min(b.length, HEAD_BYTES - at));
      if (at === HEAD_BYTES) break;
    }
    return five.readUInt32BE(1);
  }

  /**
   * The next record, or null when the peer closed cleanly between records. Throws on a cut record or
   * timeout. `payloadMemory`, when given, supplies the memory a payload is copied into (a pool's buffer).
   */
  async next(timeoutMs = 0, payloadMemory?: (length: number) => Buffer): Promise<BlockRecord | null> {
    const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : 0;
    for (;;) {
      this.need = HEAD_BYTES;
      if (this.queued >= HEAD_BYTES) {
        const len = this.peekLength();
        if (len > this.maxPayload) throw badRecord(`a record of ${len} bytes is larger than ${this.maxPayload}`);
        if (this.queued >= HEAD_BYTES + len) {
          this.need = 0;
          const head = this.take(HEAD_BYTES);
          return { type: head.readUInt8(0), payload: len ? this.take(len, payloadMemory?.(len)) : Buffer.alloc(0) };
        }
        // Waits for the whole record, or for the reader to pause the socket (a record bigger than the high-water mark).
        this.need = Math.min(HEAD_BYTES + len, this.highWater + 1);
      }
      if (this.ended) {
        if (this.failure) throw this.failure;
        if (this.queued === 0) return null;
        throw new HoistError("Transport.Closed", "the connection closed in the middle of a record", { retryable: true });
      }
      if (this.stream.isPaused()) this.stream.resume();
      await new Promise<void>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        this.wake = () => {
          if (timer) clearTimeout(timer);
          this.wake = undefined;
          resolve();
        };
        if (deadline) {
          const left = deadline - Date.now();
          timer = setTimeout(
            () => {
              this.wake = undefined;
              reject(new HoistError("Transport.Timeout", `no data arrived within ${timeoutMs} ms`, { retryable: true }));
            },
            Math.max(0, left),
          );
        }
      });
    }
  }
}

/** Writes one record; resolves once the socket can take more (backpressure). */
export function writeRecord(stream: Duplex, type: number, ...parts: Buffer[]): Promise<void> {
  return writeRecordThen(stream, undefined, type, ...parts);
}

/**
 * Writes one record like `writeRecord`; `released` is called once the stream no longer holds the
 * parts' memory (written out, or dropped with the connection), so it can be reused.
 */
export async function writeRecordThen(stream: Duplex, released: (() => void) | undefined, type: number, ...parts: Buffer[]): Promise<void> {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const head = Buffer.allocUnsafe(HEAD_BYTES);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(len, 1);
  stream.cork();
  let ok = stream.write(head);
  parts.forEach((p, i) => {
    ok = (i === parts.length - 1 && released ? stream.write(p, () => released()) : stream.write(p)) && ok;
  });
  if (!parts.length) released?.();
  stream.uncork();
  if (!ok && !stream.destroyed) {
    await new Promise<void>((resolve) => {
      const done = () => {
        stream.off("drain", done);
        stream.off("close", done);
        resolve();
      };
      stream.on("drain", done);
      stream.on("close", done);
    });
  }
  if (stream.destroyed) throw new HoistError("Transport.Closed", "the connection closed while sending", { retryable: true });
}

export function writeJsonRecord(stream: Duplex, type: number, value: unknown): Promise<void> {
  return writeRecord(stream, type, Buffer.from(JSON.stringify(value), "utf8"));
}

export function parseJsonRecord(record: BlockRecord, expected: number): unknown {
  if (record.type === BLOCK_RECORD.error && expected !== BLOCK_RECORD.error) {
    const e = parseJsonPayload(record.payload) as { code?: unknown; message?: unknown };
    throw new HoistError(typeof e.code === "string" ? e.code : "Receiver.Error", typeof e.message === "string" ? e.message : "the peer reported an error");
  }
  if (record.type !== expected) throw badRecord(`expected record type ${expected}, got ${record.type}`);
  return parseJsonPayload(record.payload);
}

function parseJsonPayload(payload: Buffer): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch {
    throw badRecord("a record is not valid UTF-8 JSON");
  }
}

// --- chunk: [u64 offset][u32 raw length][u8 codec][32 hash][data]
export const CHUNK_HEAD_BYTES = 8 + 4 + 1 + BLOCK_HASH_BYTES;

export interface ChunkHead {
  offset: number;
  rawLength: number;
  codec: number;
  hash: Buffer;
}

export function encodeChunkHead(h: ChunkHead): Buffer {
  const b = Buffer.allocUnsafe(CHUNK_HEAD_BYTES);
  b.writeBigUInt64BE(BigInt(h.offset), 0);
  b.writeUInt32BE(h.rawLength, 8);
  b.writeUInt8(h.codec, 12);
  h.hash.copy(b, 13, 0, BLOCK_HASH_BYTES);
  return b;
}

export function decodeChunk(payload: Buffer): ChunkHead & { data: Buffer } {
  if (payload.length < CHUNK_HEAD_BYTES) throw badRecord("a chunk record is shorter than its header");
  const offset = payload.readBigUInt64BE(0);
  if (offset > BigInt(Number.MAX_SAFE_INTEGER)) throw badRecord("a chunk offset is out of range");
  return {
    offset: Number(offset),
    rawLength: payload.readUInt32BE(8),
    codec: payload.readUInt8(12),
    hash: payload.subarray(13, CHUNK_HEAD_BYTES),
    data: payload.subarray(CHUNK_HEAD_BYTES),
  };
}

/** The head of a `ranges` chunk's payload (see BLOCK_CODEC in @hoist/protocol): count, then (start, end) pairs. */
export function encodeRanges(ranges: readonly (readonly [number, number])[]): Buffer {
  const b = Buffer.allocUnsafe(4 + ranges.length * 8);
  b.writeUInt32BE(ranges.length, 0);
  ranges.forEach(([start, end], i) => {
    b.writeUInt32BE(start, 4 + i * 8);
    b.writeUInt32BE(end, 8 + i * 8);
  });
  return b;
}

// --- manifest: [u32 chunk count][u8 flags: 1 = target never written outside the manifest][count × 32 hash]
export interface ManifestView {
  hashes: Buffer;
  count: number;
  /** Every chunk without a hash reads as zeros on the target. */
  pristine: boolean;
}

export function encodeManifest(m: ManifestView): Buffer[] {
  const head = Buffer.allocUnsafe(5);
  head.writeUInt32BE(m.count, 0);
  head.writeUInt8(m.pristine ? 1 : 0, 4);
  return [head, m.hashes.subarray(0, m.count * BLOCK_HASH_BYTES)];
}

export function decodeManifest(payload: Buffer): ManifestView {
  if (payload.length < 5) throw badRecord("the manifest record is too short");
  const count = payload.readUInt32BE(0);
  if (payload.length !== 5 + count * BLOCK_HASH_BYTES) throw badRecord("the manifest record has the wrong length");
  return { count, pristine: payload.readUInt8(4) === 1, hashes: payload.subarray(5) };
}

// --- verify list: [u32 count][count × (u32 index, 32 hash)]
export interface VerifyEntry {
  index: number;
  hash: Buffer;
}

export function encodeVerifyList(entries: readonly VerifyEntry[]): Buffer {
  const b = Buffer.allocUnsafe(4 + entries.length * (4 + BLOCK_HASH_BYTES));
  b.writeUInt32BE(entries.length, 0);
  entries.forEach((e, i) => {
    const at = 4 + i * (4 + BLOCK_HASH_BYTES);
    b.writeUInt32BE(e.index, at);
    e.hash.copy(b, at + 4, 0, BLOCK_HASH_BYTES);
  });
  return b;
}

export function decodeVerifyList(payload: Buffer): VerifyEntry[] {
  if (payload.length < 4) throw badRecord("the verify record is too short");
  const count = payload.readUInt32BE(0);
  if (payload.length !== 4 + count * (4 + BLOCK_HASH_BYTES)) throw badRecord("the verify record has the wrong length");
  const out: VerifyEntry[] = [];
  for (let i = 0; i < count; i++) {
    const at = 4 + i * (4 + BLOCK_HASH_BYTES);
    out.push({ index: payload.readUInt32BE(at), hash: payload.subarray(at + 4, at + 4 + BLOCK_HASH_BYTES) });
  }
  return out;
}

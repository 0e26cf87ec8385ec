// Hashing, zero detection and compression of block chunks run in worker
// threads, so a block copy uses every core: the main thread only reads,
// writes and moves buffers (which are transferred, not copied). The worker
// is plain CommonJS evaluated from a string, so it works the same from the
// sources and from the single bundled hoist.mjs.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { BLOCK_CHUNK_MAX_BYTES, BLOCK_CODEC, BLOCK_RANGES_MAX, HoistError } from "@hoist/protocol";
import type { ChunkPool } from "./chunk-pool";

const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const zlib = require("node:zlib");
const zeros = new Map();
function isZero(b) {
  let z = zeros.get(b.length);
  if (!z) { z = Buffer.alloc(b.length); if (zeros.size > 4) zeros.clear(); zeros.set(b.length, z); }
  return z.equals(b);
}
const sha = (b) => createHash("sha256").update(b).digest();
const badChunk = (message) => Object.assign(new Error(message), { code: "Block.BadChunk" });
// A "ranges" chunk: the used ranges land at their places in out, zeros everywhere else.
function expandRanges(data, out, rawLength) {
  if (data.length < 4) throw badChunk("a ranges chunk is shorter than its range count");
  const count = data.readUInt32BE(0);
  let p = 4 + count * 8;
  if (count > ${BLOCK_RANGES_MAX} || p > data.length) throw badChunk("a ranges chunk lists more ranges than it carries");
  let at = 0;
  for (let i = 0; i < count; i++) {
    const start = data.readUInt32BE(4 + i * 8);
    const end = data.readUInt32BE(8 + i * 8);
    if (start < at || end <= start || end > rawLength || p + end - start > data.length) throw badChunk("a ranges chunk has a range out of order or out of the chunk");
    out.fill(0, at, start);
    data.copy(out, start, p, p + end - start);
    p += end - start;
    at = end;
  }
  if (p !== data.length) throw badChunk("a ranges chunk carries bytes past its last range");
  out.fill(0, at, rawLength);
  return out;
}
parentPort.on("message", (m) => {
  try {
    if (m.op === "digest") {
      const buf = Buffer.from(m.ab, m.offset, m.length);
      const zero = isZero(buf);
      const hash = sha(buf);
      const changed = !m.expected || !hash.equals(Buffer.from(m.expected));
      let payload = null;
      let codec = 0;
      if (changed && !zero && m.quality >= 0) {
        const c = zlib.brotliCompressSync(buf, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: m.quality, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: buf.length, [zlib.constants.BROTLI_PARAM_LGWIN]: 22 } });
        if (c.length < buf.length - (buf.length >> 5)) { payload = c; codec = 1; }
      }
      parentPort.postMessage({ id: m.id, hash, zero, changed, payload, codec, ab: m.ab }, [m.ab]);
    } else if (m.op === "decode") {
      const data = Buffer.from(m.ab, m.offset, m.length);
      let raw;
      if (m.codec === 0) raw = data;
      else if (m.codec === 1) raw = zlib.brotliDecompressSync(data, { maxOutputLength: m.rawLength });
      else if (m.codec === 2) raw = Buffer.alloc(m.rawLength);
      else if (m.codec === 3) raw = expandRanges(data, Buffer.from(m.out, 0, m.rawLength), m.rawLength);
      else throw badChunk("unknown chunk codec " + m.codec);
      if (raw.length !== m.rawLength) throw badChunk("a chunk decoded to " + raw.length + " bytes, not " + m.rawLength);
      if (m.hash && !sha(raw).equals(Buffer.from(m.hash))) throw Object.assign(new Error("a chunk does not match its hash"), { code: "Block.ChunkHashMismatch" });
      if (raw === data) {
        parentPort.postMessage({ id: m.id, ab: m.ab, offset: m.offset, length: m.length }, [m.ab]);
      } else {
        // Memory the chunk owns whole, or the memory it was given to be laid out in, moves back as is.
        const own = raw.buffer === m.out || (raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength) ? raw : Buffer.from(raw);
        // The received bytes go back too, so their memory can be used for the next chunk.
        parentPort.postMessage({ id: m.id, ab: own.buffer, offset: own.byteOffset, length: own.length, input: m.ab }, [own.buffer, m.ab]);
      }
    } else if (m.op === "hash") {
      const buf = Buffer.from(m.ab, m.offset, m.length);
      parentPort.postMessage({ id: m.id, hash: sha(buf), ab: m.ab }, [m.ab]);
    }
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: { code: e.code && String(e.code).startsWith("Block.") ? e.code : "Block.BadChunk", message: String(e.message || e) } });
  }
});
`;

export interface DigestResult {
  hash: Buffer;
  zero: boolean;
  /** The hash differs from the expected one (or none was given). */
  changed: boolean;
  /** Compressed bytes when compression helped, else null (send the raw chunk). */
  compressed: Buffer | null;
  /** The chunk buffer, handed back. */
  buffer: Buffer;
}

interface Pending {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: number;
}

/** brotli quality for compression level 1–10 (0 = off, -1 here). */
export function brotliQuality(level: number): number {
  return level <= 0 ? -1 : Math.min(11, level - 1);
}

export class ChunkWorkers {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(count = Math.max(1, availableParallelism())) {
    for (let i = 0; i < count; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.unref();
      const slot: Slot = { worker, busy: 0 };
      worker.on("message", (m: { id: number; error?: { code: string; message: string } } & Record<string, unknown>) => {
        slot.busy -= 1;
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.error) p.reject(new HoistError(m.error.code, m.error.message));
        else p.resolve(m);
      });
      worker.on("error", (e) => this.failAll(e));
      this.slots.push(slot);
    }
  }

  get size(): number {
    return this.slots.length;
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(new HoistError("Block.WorkerFailed", `a chunk worker failed: ${e.message}`, { retryable: true }));
    this.pending.clear();
  }

  private post(message: Record<string, unknown>, transfer: ArrayBuffer[]): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(new HoistError("Block.WorkerFailed", "the chunk workers are closed"));
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    slot.busy += 1;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ ...message, id }, transfer);
    });
  }

  /**
   * Hashes a chunk, tells whether it is all zeros and whether it differs from `expected`, and
   * compresses it at `quality` (brotli; -1 = never) when it differs. `buffer` must own its ArrayBuffer
   * (Buffer.allocUnsafeSlow); it is moved to the worker and handed back in the result.
   */
  async digest(buffer: Buffer, expected: Buffer | null, quality: number): Promise<DigestResult> {
    const ab = buffer.buffer as ArrayBuffer;
    // Transferring detaches `buffer`; keep where the chunk lies in its memory.
    const offset = buffer.byteOffset;
    const length = buffer.length;
    const r = await this.post({ op: "digest", ab, offset, length, expected: expected ? new Uint8Array(expected) : null, quality }, [ab]);
    const back = r.ab as ArrayBuffer;
    const payload = r.payload as Uint8Array | null;
    return {
      hash: Buffer.from(r.hash as Uint8Array),
      zero: r.zero as boolean,
      changed: r.changed as boolean,
      compressed: payload ? Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength) : null,
      buffer: Buffer.from(back, offset, length),
    };
  }

  /**
   * Decompresses a received chunk and checks its length, and its SHA-256 against `hash` when one is
   * given; rejects with Block.BadChunk or Block.ChunkHashMismatch.
   * A chunk that fills (nearly) all of its memory, as a record read off the wire does, or that lies in
   * `pool`'s memory, is moved to the worker and back without a copy, and `data` is unusable afterwards. When the chunk was
   * compressed, its received memory is handed back to `pool`.
   */
  async decode(data: Buffer, codec: number, rawLength: number, hash: Buffer | null, pool?: ChunkPool): Promise<Buffer> {
    if (codec === BLOCK_CODEC.ranges && rawLength > BLOCK_CHUNK_MAX_BYTES) throw new HoistError("Block.BadChunk", `a chunk of ${rawLength} bytes is larger than any chunk`);
    let own = data;
    const whole = data.buffer.byteLength <= data.length + 64 * 1024 || data.buffer.byteLength === pool?.bytes;
    const movable = data.length >= 64 * 1024 && whole && !(data.buffer instanceof SharedArrayBuffer);
    if (!movable) {
      // Small (maybe in Buffer's shared pool) or part of a bigger memory: copy, so only the chunk's own bytes travel.
      own = Buffer.allocUnsafeSlow(data.length);
      data.copy(own);
    }
    const ab = own.buffer as ArrayBuffer;
    // A ranges chunk is laid out into memory of its full size, taken here so it can come from the pool.
    const out = codec === BLOCK_CODEC.ranges ? ((pool?.take(rawLength) ?? Buffer.allocUnsafeSlow(rawLength)).buffer as ArrayBuffer) : null;
    const r = await this.post({ op: "decode", ab, offset: own.byteOffset, length: own.length, codec, rawLength, hash: hash ? new Uint8Array(hash) : null, out }, out ? [ab, out] : [ab]);
    pool?.give(r.input as ArrayBuffer | undefined);
    return Buffer.from(r.ab as ArrayBuffer, r.offset as number, r.length as number);
  }

  /** SHA-256 of a buffer that owns its ArrayBuffer; the buffer comes back with the hash. */
  async hash(buffer: Buffer): Promise<{ hash: Buffer; buffer: Buffer }> {
    const ab = buffer.buffer as ArrayBuffer;
    const offset = buffer.byteOffset;
    const length = buffer.length;
    const r = await this.post({ op: "hash", ab, offset, length }, [ab]);
    return { hash: Buffer.from(r.hash as Uint8Array), buffer: Buffer.from(r.ab as ArrayBuffer, offset, length) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error("closed"));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

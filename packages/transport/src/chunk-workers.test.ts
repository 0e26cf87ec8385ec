import { createHash, randomBytes } from "node:crypto";
import { brotliCompressSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { BLOCK_CODEC } from "@hoist/protocol";
import { encodeRanges } from "./block-records";
import { ChunkPool } from "./chunk-pool";
import { ChunkWorkers } from "./chunk-workers";

const workers = new ChunkWorkers(2);
afterAll(() => workers.close());
const sha = (b: Buffer) => createHash("sha256").update(b).digest();

describe("chunk workers", () => {
  it("decodes a raw chunk read off the wire without copying it, and hands back the same bytes", async () => {
    const record = Buffer.allocUnsafeSlow(50 + 1024 * 1024);
    randomBytes(1024 * 1024).copy(record, 50);
    const data = record.subarray(50);
    const expected = Buffer.from(data);
    const raw = await workers.decode(data, 0, data.length, sha(expected));
    expect(raw.equals(expected)).toBe(true);
    // Moved to the worker and back: the record's memory now belongs to the result.
    expect(record.buffer.byteLength).toBe(0);
  });

  it("copies a small chunk rather than moving Buffer's shared pool, so other buffers stay intact", async () => {
    const neighbour = Buffer.from("a neighbour in the same pool");
    const zero = Buffer.from([]);
    const raw = await workers.decode(zero, 2, 4096, sha(Buffer.alloc(4096)));
    expect(raw.equals(Buffer.alloc(4096))).toBe(true);
    const small = Buffer.from("tiny chunk");
    expect((await workers.decode(small, 0, small.length, sha(small))).toString()).toBe("tiny chunk");
    expect(small.toString()).toBe("tiny chunk");
    expect(neighbour.toString()).toBe("a neighbour in the same pool");
  });

  it("decompresses a brotli chunk and refuses one that does not match its hash", async () => {
    const plain = Buffer.from("log line 200 OK\n".repeat(100_000));
    const packed = brotliCompressSync(plain);
    expect((await workers.decode(packed, 1, plain.length, sha(plain))).equals(plain)).toBe(true);
    await expect(workers.decode(brotliCompressSync(plain), 1, plain.length, sha(Buffer.from("other")))).rejects.toMatchObject({ code: "Block.ChunkHashMismatch" });
    await expect(workers.decode(brotliCompressSync(plain), 1, plain.length - 1, sha(plain))).rejects.toMatchObject({ code: "Block.BadChunk" });
    // Without a hash only the length is checked (the receiver's re-read of the target is the content check).
    expect((await workers.decode(brotliCompressSync(plain), 1, plain.length, null)).equals(plain)).toBe(true);
    await expect(workers.decode(brotliCompressSync(plain), 1, plain.length + 1, null)).rejects.toMatchObject({ code: "Block.BadChunk" });
  });

  it("lays a ranges chunk out at full size with zeros between its ranges, and refuses malformed ones", async () => {
    const pool = new ChunkPool(1024 * 1024 + 4096, 4);
    const full = Buffer.alloc(1024 * 1024);
    const ranges: [number, number][] = [
      [4096, 8192],
      [300_000, 500_000],
      [1024 * 1024 - 100, 1024 * 1024],
    ];
    for (const [a, b] of ranges) randomBytes(b - a).copy(full, a);
    const payload = Buffer.concat([encodeRanges(ranges), ...ranges.map(([a, b]) => full.subarray(a, b))]);
    const record = pool.take(payload.length + 50);
    payload.copy(record, 50);
    const raw = await workers.decode(record.subarray(50, 50 + payload.length), BLOCK_CODEC.ranges, full.length, sha(full), pool);
    expect(raw.equals(full)).toBe(true);
    // The record's memory came back to the pool; the chunk itself lies in pooled memory.
    expect(raw.buffer.byteLength).toBe(pool.bytes);
    expect(pool.idle).toBe(1);
    const bad = async (r: [number, number][], extra = 0): Promise<string> => {
      const body = Buffer.concat([encodeRanges(r), Buffer.alloc(r.reduce((n, [a, b]) => n + Math.max(0, b - a), 0) + extra)]);
      return workers.decode(body, BLOCK_CODEC.ranges, 4096, null).then(
        () => "decoded",
        (e: { code?: string }) => e.code ?? "no code",
      );
    };
    expect(await bad([[0, 4097]])).toBe("Block.BadChunk");
    expect(await bad([[100, 200], [150, 300]])).toBe("Block.BadChunk");
    expect(await bad([[200, 100]])).toBe("Block.BadChunk");
    expect(await bad([[0, 100]], 1)).toBe("Block.BadChunk");
    expect(await bad([[0, 100], [200, 300]], -50)).toBe("Block.BadChunk");
    expect(await bad([[0, 4096]])).toBe("decoded");
    await expect(workers.decode(Buffer.from([0, 0]), BLOCK_CODEC.ranges, 4096, null)).rejects.toMatchObject({ code: "Block.BadChunk" });
  });

  it("hands a compressed chunk's received memory back to the pool, and moves pooled memory without copying", async () => {
    const pool = new ChunkPool(1024 * 1024 + 4096, 4);
    const plain = Buffer.concat([randomBytes(200 * 1024), Buffer.from("log line 200 OK\n".repeat(30_000))]);
    const packed = brotliCompressSync(plain);
    expect(packed.length).toBeGreaterThan(64 * 1024);
    const record = pool.take(packed.length + 50);
    packed.copy(record, 50);
    expect((await workers.decode(record.subarray(50), 1, plain.length, sha(plain), pool)).equals(plain)).toBe(true);
    expect(pool.idle).toBe(1);
    const raw = pool.take(300 * 1024);
    randomBytes(raw.length).copy(raw);
    const copy = Buffer.from(raw);
    const back = await workers.decode(raw.subarray(50), 0, raw.length - 50, null, pool);
    expect(back.equals(copy.subarray(50))).toBe(true);
    expect(back.buffer.byteLength).toBe(pool.bytes);
    expect(raw.buffer.byteLength).toBe(0);
  });
});

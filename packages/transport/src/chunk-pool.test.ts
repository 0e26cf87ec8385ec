import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type TLSSocket } from "node:tls";
import { afterAll, describe, expect, it } from "vitest";
import { RecordReader, writeRecordThen } from "./block-records";
import { generateSelfSignedCertificate } from "./certificate";
import { ChunkPool } from "./chunk-pool";
import { connectPinned } from "./pinned-tls";

const dir = mkdtempSync(join(tmpdir(), "hoist-chunk-pool-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("chunk pool", () => {
  it("hands out memory it owns whole, takes back only its own size, and keeps at most its limit", () => {
    const pool = new ChunkPool(1024, 2);
    const a = pool.take(1000);
    expect(a.length).toBe(1000);
    expect(a.byteOffset).toBe(0);
    expect(a.buffer.byteLength).toBe(1024);
    pool.give(a);
    pool.give(a);
    expect(pool.idle).toBe(1);
    expect(pool.take(10).buffer).toBe(a.buffer);
    pool.give(Buffer.allocUnsafeSlow(2048));
    pool.give(Buffer.from("small"));
    expect(pool.idle).toBe(0);
    // Larger than the pool's size: its own memory, never pooled.
    const big = pool.take(4096);
    expect(big.length).toBe(4096);
    pool.give(big);
    expect(pool.idle).toBe(0);
    for (let i = 0; i < 5; i++) pool.give(Buffer.allocUnsafeSlow(1024));
    expect(pool.idle).toBe(2);
  });

  it("reuses a chunk's memory only once the TLS connection let go of it: every record arrives as sent", async () => {
    const cert = await generateSelfSignedCertificate(dir, "pool-test");
    const fingerprint = createHash("sha256")
      .update(Buffer.from(readFileSync(cert.certPath, "utf8").replace(/-----[^-]+-----|\s/g, ""), "base64"))
      .digest("hex");
    const chunk = 256 * 1024;
    const count = 64;
    const received: string[] = [];
    const server = createServer({ cert: readFileSync(cert.certPath), key: readFileSync(cert.keyPath) });
    const serverPool = new ChunkPool(chunk, 4);
    const done = new Promise<void>((resolve, reject) => {
      server.on("secureConnection", (socket: TLSSocket) => {
        const reader = new RecordReader(socket, Buffer.alloc(0), 1024 * 1024, 512 * 1024);
        void (async () => {
          for (;;) {
            const rec = await reader.next(30_000, (n) => serverPool.take(n));
            if (!rec) break;
            received.push(sha(rec.payload));
            serverPool.give(rec.payload);
          }
          resolve();
        })().catch(reject);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const socket = await connectPinned({ host: "127.0.0.1", port, fingerprint, highWaterMark: 64 * 1024 });
    const pool = new ChunkPool(chunk, 3);
    const sent: string[] = [];
    let released = 0;
    for (let i = 0; i < count; i++) {
      const b = pool.take(chunk);
      randomBytes(chunk).copy(b);
      sent.push(sha(b));
      await writeRecordThen(
        socket,
        () => {
          released += 1;
          // Scribble over it as the next chunk's read would: the bytes on the wire must not change.
          b.fill(0xee);
          pool.give(b);
        },
        3,
        b,
      );
    }
    socket.end();
    await done;
    server.close();
    expect(released).toBe(count);
    expect(received).toEqual(sent);
    // Memory went round: far fewer buffers than chunks were ever made.
    expect(pool.idle).toBeGreaterThan(0);
  });
});

// The wire decoder under hostile input, with a fixed seed so a failure
// replays: random bytes, valid data headers with bytes flipped, cut or
// extended, and streams split at random points. Every outcome must be a
// decoded JSON object, a request for more bytes, or Transport.BadFrame — never
// another exception.
import { PassThrough } from "node:stream";
import { DataHeaderSchema, MAX_FRAME_BYTES } from "@hoist/protocol";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../../test/helpers/random";
import { decodeFrame, encodeFrame, readFrame } from "./frame";

const SEED = 20_070_707;
const HEADER = { v: 1, jobId: "j-0123456789abcdef", token: "a".repeat(64), kind: "rsync", command: ["rsync", "--server", "--daemon", "."] };

type Outcome = "object" | "more" | "refused";

function classify(buf: Buffer): Outcome {
  try {
    const out = decodeFrame(buf);
    if (!out) return "more";
    expect(typeof out.value).toBe("object");
    expect(out.value).not.toBeNull();
    expect(Array.isArray(out.value)).toBe(false);
    return "object";
  } catch (e) {
    expect((e as { code?: string }).code).toBe("Transport.BadFrame");
    return "refused";
  }
}

describe("frame decoder fuzz (seed 20070707)", () => {
  it("random byte strings and random lengths: 20,000 inputs", () => {
    const rnd = seededRandom(SEED);
    const seen = new Set<Outcome>();
    for (let i = 0; i < 20_000; i++) {
      const len = Math.floor(rnd() * 96);
      const buf = Buffer.alloc(len);
      for (let j = 0; j < len; j++) buf[j] = Math.floor(rnd() * 256);
      if (len >= 4) {
        const mode = i % 4;
        // Lengths that fit, that are huge, zero, or just over the limit.
        if (mode === 0) buf.writeUInt32BE(Math.floor(rnd() * (len - 3)), 0);
        if (mode === 1) buf.writeUInt32BE(MAX_FRAME_BYTES + 1 + Math.floor(rnd() * 1e9), 0);
        if (mode === 2) buf.writeUInt32BE(0, 0);
      }
      seen.add(classify(buf));
    }
    expect([...seen].sort()).toEqual(["more", "refused"]);
  });

  it("valid data headers mutated: 20,000 flips, cuts and splices", () => {
    const rnd = seededRandom(SEED + 1);
    const valid = encodeFrame(HEADER);
    const counts: Record<Outcome, number> = { object: 0, more: 0, refused: 0 };
    for (let i = 0; i < 20_000; i++) {
      const buf = Buffer.from(valid);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let f = 0; f < flips; f++) buf[Math.floor(rnd() * buf.length)] = Math.floor(rnd() * 256);
      const cut = rnd() < 0.2 ? buf.subarray(0, Math.floor(rnd() * buf.length)) : buf;
      const outcome = classify(cut);
      counts[outcome] += 1;
      if (outcome === "object") {
        // What decodes is plain JSON: it re-encodes and decodes to the same value, and the
        // header schema either accepts it whole or refuses it, without throwing.
        const value = decodeFrame(cut)!.value;
        expect(decodeFrame(encodeFrame(value))!.value).toEqual(value);
        expect(typeof DataHeaderSchema.safeParse(value).success).toBe("boolean");
      }
    }
    // Mutations of a valid frame land in all three outcomes.
    expect(counts.object).toBeGreaterThan(0);
    expect(counts.more).toBeGreaterThan(0);
    expect(counts.refused).toBeGreaterThan(0);
  });

  it("a frame followed by stream bytes, split at random points, always reads back the same: 2,000 streams", async () => {
    const rnd = seededRandom(SEED + 2);
    for (let i = 0; i < 2_000; i++) {
      const tail = Buffer.from(`@RSYNCD: 32.0 ${i}\n`);
      const bytes = Buffer.concat([encodeFrame({ ...HEADER, n: i }), tail]);
      const stream = new PassThrough();
      const pending = readFrame(stream, { timeoutMs: 2000 });
      let off = 0;
      while (off < bytes.length) {
        const n = 1 + Math.floor(rnd() * 40);
        stream.write(bytes.subarray(off, off + n));
        off += n;
      }
      const out = await pending;
      expect(out.value).toEqual({ ...HEADER, n: i });
      const after = Buffer.concat([out.rest, stream.read() ?? Buffer.alloc(0)]);
      expect(after.equals(tail)).toBe(true);
    }
  });

  it("a stream that announces more than the limit is refused before the body arrives", async () => {
    const rnd = seededRandom(SEED + 3);
    for (let i = 0; i < 200; i++) {
      const stream = new PassThrough();
      const pending = readFrame(stream, { timeoutMs: 2000 });
      const head = Buffer.alloc(4);
      head.writeUInt32BE(MAX_FRAME_BYTES + 1 + Math.floor(rnd() * 2 ** 31), 0);
      stream.write(head);
      await expect(pending).rejects.toMatchObject({ code: "Transport.BadFrame" });
    }
  });
});

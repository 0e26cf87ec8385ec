import { randomBytes } from "node:crypto";
import { PassThrough } from "node:stream";
import { MAX_FRAME_BYTES } from "@hoist/protocol";
import { describe, expect, it } from "vitest";
import { codeOf } from "../../../test/helpers/errors";
import { decodeFrame, encodeFrame, readFrame } from "./frame";

describe("frame codec", () => {
  it("round-trips an object and keeps the bytes that follow", () => {
    const frame = encodeFrame({ v: 1, hello: "wörld" });
    const out = decodeFrame(Buffer.concat([frame, Buffer.from("@RSYNCD: 32.0\n")]));
    expect(out?.value).toEqual({ v: 1, hello: "wörld" });
    expect(out?.rest.toString()).toBe("@RSYNCD: 32.0\n");
  });

  it("asks for more bytes on a partial frame", () => {
    const frame = encodeFrame({ a: 1 });
    for (let i = 0; i < frame.length; i++) expect(decodeFrame(frame.subarray(0, i))).toBeNull();
  });

  it("refuses oversized, empty, non-JSON and non-object frames", () => {
    const big = Buffer.alloc(4);
    big.writeUInt32BE(MAX_FRAME_BYTES + 1);
    expect(codeOf(() => decodeFrame(big))).toBe("Transport.BadFrame");
    expect(codeOf(() => decodeFrame(Buffer.from([0, 0, 0, 0])))).toBe("Transport.BadFrame");
    const notJson = Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from("{x}")]);
    expect(codeOf(() => decodeFrame(notJson))).toBe("Transport.BadFrame");
    const arr = Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from("[]")]);
    expect(codeOf(() => decodeFrame(arr))).toBe("Transport.BadFrame");
    const badUtf8 = Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from([0x22, 0xff, 0x22])]);
    expect(codeOf(() => decodeFrame(badUtf8))).toBe("Transport.BadFrame");
    expect(codeOf(() => encodeFrame({ s: "x".repeat(MAX_FRAME_BYTES) }))).toBe("Transport.BadFrame");
  });

  it("on random bytes either decodes an object, waits, or refuses with Transport.BadFrame", () => {
    let refused = 0;
    for (let i = 0; i < 5000; i++) {
      const len = Math.floor(Math.random() * 80);
      const buf = randomBytes(len);
      // Small lengths make some inputs complete frames, so all three outcomes occur.
      if (i % 2 === 0 && len >= 4) buf.writeUInt32BE(Math.floor(Math.random() * (len - 3)), 0);
      try {
        const out = decodeFrame(buf);
        if (out) {
          expect(typeof out.value).toBe("object");
          expect(Array.isArray(out.value)).toBe(false);
        }
      } catch (e) {
        refused++;
        expect((e as { code?: string }).code).toBe("Transport.BadFrame");
      }
    }
    expect(refused).toBeGreaterThan(0);
  });

  it("reads a frame split over many chunks from a stream", async () => {
    const stream = new PassThrough();
    const bytes = Buffer.concat([encodeFrame({ jobId: "j-1" }), Buffer.from("tail")]);
    const pending = readFrame(stream, { timeoutMs: 2000 });
    // The last chunk carries the frame's final byte and the start of the stream.
    for (let i = 0; i < bytes.length; i += 3) stream.write(bytes.subarray(i, i + 3));
    const out = await pending;
    expect(out.value).toEqual({ jobId: "j-1" });
    const after = Buffer.concat([out.rest, stream.read() ?? Buffer.alloc(0)]);
    expect(after.toString()).toBe("tail");
  });

  it("times out when nothing arrives", async () => {
    const stream = new PassThrough();
    await expect(readFrame(stream, { timeoutMs: 50 })).rejects.toMatchObject({ code: "Transport.Timeout" });
  });
});

// The data port speaks one framed JSON message each way before the byte
// stream starts: a 4-byte big-endian length, then that many bytes of UTF-8
// JSON. Everything after the frame belongs to the stream (rsync), so a reader
// must hand back the bytes it read past the frame.
import type { Duplex } from "node:stream";
import { HoistError, MAX_FRAME_BYTES } from "@hoist/protocol";

function badFrame(message: string): HoistError {
  return new HoistError("Transport.BadFrame", message, {
    fix: "Make sure the client is a hoist agent of a matching version talking to the data port.",
  });
}

export function encodeFrame(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value), "utf8");
  if (body.length > MAX_FRAME_BYTES) throw badFrame(`frame of ${body.length} bytes is larger than ${MAX_FRAME_BYTES}`);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

export interface DecodedFrame {
  value: unknown;
  /** Bytes that followed the frame. */
  rest: Buffer;
}

/** Decodes one frame from the start of `buf`; null when more bytes are needed. Throws Transport.BadFrame. */
export function decodeFrame(buf: Buffer, maxBytes = MAX_FRAME_BYTES): DecodedFrame | null {
  if (buf.length < 4) return null;
  const len = buf.readUInt32BE(0);
  if (len === 0 || len > maxBytes) throw badFrame(`frame length ${len} is outside 1–${maxBytes}`);
  if (buf.length < 4 + len) return null;
  const text = buf.subarray(4, 4 + len);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(text));
  } catch {
    throw badFrame("frame is not valid UTF-8 JSON");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw badFrame("frame is not a JSON object");
  return { value, rest: Buffer.from(buf.subarray(4 + len)) };
}

export interface ReadFrameOptions {
  /** Give up when no complete frame arrived in this time. */
  timeoutMs?: number;
  maxBytes?: number;
}

/**
 * Reads one frame from a stream, then pauses it and detaches, so the caller
 * can pipe the stream on. Bytes that arrived after the frame come back in `rest`.
 */
export function readFrame(stream: Duplex, options: ReadFrameOptions = {}): Promise<DecodedFrame> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    let timer: NodeJS.Timeout | undefined;
    const cleanup = () => {
      if (timer) clearTimeout(timer);
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("error", onError);
      stream.off("close", onEnd);
      stream.pause();
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      try {
        const frame = decodeFrame(buf, options.maxBytes);
        if (frame) {
          cleanup();
          resolve(frame);
        }
      } catch (e) {
        cleanup();
        reject(e);
      }
    };
    const onEnd = () => {
      cleanup();
      reject(new HoistError("Transport.Closed", "the connection closed before a complete frame arrived", { retryable: true }));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(new HoistError("Transport.Closed", `the connection failed: ${e.message}`, { retryable: true, cause: e }));
    };
    if (options.timeoutMs) {
      timer = setTimeout(() => {
        cleanup();
        reject(new HoistError("Transport.Timeout", `no frame arrived within ${options.timeoutMs} ms`, { retryable: true }));
      }, options.timeoutMs);
    }
    stream.on("data", onData);
    stream.on("end", onEnd);
    stream.on("close", onEnd);
    stream.on("error", onError);
    stream.resume();
  });
}

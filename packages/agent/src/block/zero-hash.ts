// SHA-256 of an all-zero chunk of a given length (the last chunk may be short).
import { createHash } from "node:crypto";

const cache = new Map<number, Buffer>();

export function zeroHash(length: number): Buffer {
  let h = cache.get(length);
  if (!h) {
    h = createHash("sha256").update(Buffer.alloc(length)).digest();
    if (cache.size > 8) cache.clear();
    cache.set(length, h);
  }
  return h;
}

// Tokens are compared as SHA-256 digests in constant time, and an address that
// keeps failing is slowed down, so guessing a 256-bit token stays hopeless and
// noisy.
import { createHash, timingSafeEqual } from "node:crypto";

export function sha256Hex(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex");
}

/** True when sha256(token) equals `expectedSha256` (hex). Time does not depend on where they differ. */
export function tokenMatches(token: string, expectedSha256: string): boolean {
  const got = Buffer.from(sha256Hex(token), "hex");
  const want = Buffer.from(expectedSha256, "hex");
  return want.length === got.length && timingSafeEqual(got, want);
}

export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/** Remembers recent failures per address and says how long to hold the next answer. */
export class FailureThrottle {
  private readonly failures = new Map<string, { count: number; last: number }>();

  constructor(
    private readonly windowMs = 10 * 60_000,
    private readonly maxDelayMs = 5_000,
  ) {}

  delayFor(address: string): number {
    const f = this.failures.get(address);
    if (!f || Date.now() - f.last > this.windowMs) return 0;
    // The first few mistakes are free (a typo); after that it doubles.
    return f.count < 3 ? 0 : Math.min(this.maxDelayMs, 100 * 2 ** (f.count - 3));
  }

  fail(address: string): void {
    const f = this.failures.get(address);
    const now = Date.now();
    if (!f || now - f.last > this.windowMs) this.failures.set(address, { count: 1, last: now });
    else this.failures.set(address, { count: f.count + 1, last: now });
    if (this.failures.size > 10_000) this.failures.clear();
  }
}

export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

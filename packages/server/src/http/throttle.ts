// Slows down guessing: after a few failed credentials from one address, each
// further answer to that address waits longer (up to a cap), so trying keys
// or activation codes costs time. Successes clear the count. The table is
// bounded so a flood of addresses cannot grow it without limit.

export interface ThrottleOptions {
  /** Failures allowed before answers slow down. */
  freeFailures?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Failures older than this are forgotten. */
  windowMs?: number;
  maxAddresses?: number;
}

interface Entry {
  failures: number;
  lastAt: number;
}

export class FailureThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly free: number;
  private readonly base: number;
  private readonly max: number;
  private readonly window: number;
  private readonly maxAddresses: number;

  constructor(opts: ThrottleOptions = {}) {
    this.free = opts.freeFailures ?? 5;
    this.base = opts.baseDelayMs ?? 250;
    this.max = opts.maxDelayMs ?? 8000;
    this.window = opts.windowMs ?? 15 * 60_000;
    this.maxAddresses = opts.maxAddresses ?? 10_000;
  }

  /** How long to hold the next answer to `address`, in milliseconds. */
  delayFor(address: string, now = Date.now()): number {
    const e = this.entries.get(address);
    if (!e || now - e.lastAt > this.window) return 0;
    const over = e.failures - this.free;
    if (over < 0) return 0;
    return Math.min(this.max, this.base * 2 ** Math.min(over, 20));
  }

  fail(address: string, now = Date.now()): void {
    const e = this.entries.get(address);
    if (e && now - e.lastAt <= this.window) {
      e.failures += 1;
      e.lastAt = now;
      return;
    }
    if (this.entries.size >= this.maxAddresses) this.prune(now);
    this.entries.set(address, { failures: 1, lastAt: now });
  }

  succeed(address: string): void {
    this.entries.delete(address);
  }

  private prune(now: number): void {
    for (const [k, e] of this.entries) if (now - e.lastAt > this.window) this.entries.delete(k);
    // Still full: forget the oldest half rather than refuse to track new addresses.
    if (this.entries.size >= this.maxAddresses) {
      const keys = [...this.entries.keys()].slice(0, Math.ceil(this.maxAddresses / 2));
      for (const k of keys) this.entries.delete(k);
    }
  }
}

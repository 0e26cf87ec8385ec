// The load side of bench/api-agents: one HTTP request with its wall-clock
// latency, and per-endpoint tallies (latencies, errors by code) that turn
// into requests/s and percentiles.
import { Agent, request } from "node:http";

export interface Answer {
  status: number;
  body: string;
}

/** A keep-alive pool for the API clients (a console or script keeps its connection). */
export const keepAlive = new Agent({ keepAlive: true, maxSockets: 64 });

/**
 * One request; `pool` false opens a fresh connection, as an agent does when
 * its heartbeat period outlasts the client's keep-alive.
 */
export function send(base: URL, method: string, path: string, opts: { body?: unknown; token?: string; pool: Agent | false; timeoutMs?: number }): Promise<Answer> {
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const headers: Record<string, string | number> = { accept: "application/json" };
  if (payload !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = Buffer.byteLength(payload);
  }
  if (opts.token) headers["authorization"] = `Bearer ${opts.token}`;
  return new Promise((resolve, reject) => {
    const req = request({ host: base.hostname, port: base.port, method, path, headers, agent: opts.pool, timeout: opts.timeoutMs ?? 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timed out"), { code: "TIMEOUT" })));
    req.on("error", reject);
    req.end(payload);
  });
}

/** An answer slower than this is a stall worth listing with its time. */
export const SLOW_MS = 1000;

export class Tally {
  readonly latenciesMs: number[] = [];
  readonly errors = new Map<string, number>();
  /** Answers slower than SLOW_MS: when they were asked (epoch ms) and how long they took. */
  readonly slow: { at: number; ms: number }[] = [];
  /** The last successful answer, which the bare-http peer replays. */
  lastOk: Answer | null = null;
  /** The last answer of any kind, replayed when there was no success. */
  last: Answer | null = null;

  /** Times one call and files its outcome; resolves to the answer, or null on failure. */
  async time(call: () => Promise<Answer>): Promise<Answer | null> {
    const started = process.hrtime.bigint();
    const at = Date.now();
    try {
      const a = await call();
      this.took(at, Number(process.hrtime.bigint() - started) / 1e6);
      this.last = a;
      if (a.status < 400) {
        this.lastOk = a;
        return a;
      }
      let code = `HTTP ${a.status}`;
      try {
        code = `${a.status} ${(JSON.parse(a.body) as { code?: string }).code ?? ""}`.trim();
      } catch {
        // not JSON: keep the status
      }
      this.fail(code);
      return null;
    } catch (e) {
      this.took(at, Number(process.hrtime.bigint() - started) / 1e6);
      this.fail((e as { code?: string }).code ?? (e instanceof Error ? e.message : String(e)));
      return null;
    }
  }

  private took(at: number, ms: number): void {
    this.latenciesMs.push(ms);
    if (ms > SLOW_MS && this.slow.length < 10_000) this.slow.push({ at, ms });
  }

  private fail(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  get errorCount(): number {
    let n = 0;
    for (const v of this.errors.values()) n += v;
    return n;
  }

  summary(seconds: number): Summary {
    const sorted = [...this.latenciesMs].sort((a, b) => a - b);
    return {
      requests: sorted.length,
      perSecond: sorted.length / seconds,
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
      max: sorted.at(-1) ?? Number.NaN,
      errors: this.errorCount,
      errorCodes: Object.fromEntries(this.errors),
    };
  }
}

export interface Summary {
  requests: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  errors: number;
  errorCodes: Record<string, number>;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

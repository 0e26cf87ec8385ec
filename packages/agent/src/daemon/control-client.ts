// JSON over HTTP(S) to `hoist server`, for the agent daemon and the CLI.
// Error answers come back as HoistErrors with the server's code, so callers
// tell a used-up code from a network failure by code.
import { HoistError } from "@hoist/protocol";

export interface ControlClientOptions {
  server: string;
  /** API key (CLI) or agent token (daemon). */
  token?: string | undefined;
  timeoutMs?: number;
}

export class ControlPlaneClient {
  readonly server: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private unreachable = false;
  private readonly reachable = new Set<() => void>();

  constructor(opts: ControlClientOptions) {
    let url: URL;
    try {
      url = new URL(opts.server);
    } catch {
      throw new HoistError("Config.InvalidServerUrl", `"${opts.server}" is not a URL`, { fix: "Pass --server http(s)://host:port of hoist server." });
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new HoistError("Config.InvalidServerUrl", `--server must be http:// or https:// (got ${url.protocol})`, { fix: "Pass --server http(s)://host:port." });
    // Requests authenticate with a bearer token; fetch refuses a URL with credentials, and a message would show them.
    if (url.username !== "" || url.password !== "") throw new HoistError("Config.InvalidServerUrl", "--server must not carry a user name or password", { fix: "Pass --server http(s)://host:port, without user:password@." });
    this.server = opts.server.replace(/\/+$/, "");
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** Calls `listener` whenever the server answers again after a request could not reach it; returns the unsubscribe. */
  onReachable(listener: () => void): () => void {
    this.reachable.add(listener);
    return () => this.reachable.delete(listener);
  }

  /** `signal` cancels the request (the agent is stopping); it then rejects with Request.Aborted. */
  async request<T>(method: string, path: string, body?: unknown, options: { signal?: AbortSignal } = {}): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.token) headers["authorization"] = `Bearer ${this.token}`;
    let res: Response;
    try {
      const timeout = AbortSignal.timeout(this.timeoutMs);
      const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
      res = await fetch(`${this.server}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
    } catch (e) {
      if (options.signal?.aborted) throw this.cancelled(path, e);
      this.unreachable = true;
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new HoistError("Server.Unreachable", `cannot reach hoist server at ${this.server}: ${cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e))}`, {
        fix: "Check --server, that hoist server runs, and that this host can reach its port.",
        retryable: true,
        cause: e,
      });
    }
    if (this.unreachable) {
      this.unreachable = false;
      for (const listener of [...this.reachable]) listener();
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      if (options.signal?.aborted) throw this.cancelled(path, e);
      throw new HoistError("Server.Unreachable", `hoist server at ${this.server} broke off its answer`, { fix: "Check that hoist server runs and that the network between is stable.", retryable: true, cause: e });
    }
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new HoistError("Server.BadAnswer", `hoist server answered ${res.status} with something that is not JSON`, { fix: "Check that --server points at hoist server, not another web server.", retryable: true });
    }
    if (!res.ok) {
      const err = (parsed ?? {}) as { code?: string; message?: string; fix?: string; retryable?: boolean };
      throw new HoistError(err.code ?? `Http.${res.status}`, err.message ?? `hoist server answered ${res.status}`, { fix: err.fix, retryable: err.retryable ?? res.status >= 500, details: { status: res.status } });
    }
    return parsed as T;
  }

  private cancelled(path: string, cause: unknown): HoistError {
    return new HoistError("Request.Aborted", `the request to ${this.server}${path} was cancelled because the agent is stopping`, { fix: "Nothing to do; start hoist agent again to resume.", cause });
  }
}

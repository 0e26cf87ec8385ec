// JSON over HTTPS to a receiver's control API, on a socket whose certificate
// fingerprint was checked before the request (and its Authorization header)
// went out.
import { request } from "node:http";
import type { Socket } from "node:net";
import { HoistError } from "@hoist/protocol";
import { connectPinned, type PinnedEndpoint } from "./pinned-tls";

export interface ControlClientOptions extends PinnedEndpoint {
  /** Bearer token (admin or job token); omitted for unauthenticated calls. */
  token?: string;
  timeoutMs?: number;
}

export interface ControlResponse<T = unknown> {
  status: number;
  body: T;
}

export interface ControlClient {
  /** Raw call: resolves with any status; the body is parsed JSON (or null). */
  call<T = unknown>(method: string, path: string, body?: unknown, token?: string): Promise<ControlResponse<T>>;
  /** Like call, but a non-2xx answer becomes the receiver's HoistError. */
  json<T = unknown>(method: string, path: string, body?: unknown, token?: string): Promise<T>;
}

export function createControlClient(options: ControlClientOptions): ControlClient {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const call = <T>(method: string, path: string, body?: unknown, token?: string): Promise<ControlResponse<T>> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const bearer = token ?? options.token;
      const headers: Record<string, string> = { accept: "application/json", host: `${options.host}:${options.port}` };
      if (payload) {
        headers["content-type"] = "application/json";
        headers["content-length"] = String(payload.length);
      }
      if (bearer) headers.authorization = `Bearer ${bearer}`;
      const req = request({
        method,
        path,
        headers,
        timeout: timeoutMs,
        createConnection: ((_opts: unknown, done: (err: Error | null, socket?: Socket) => void) => {
          connectPinned(options, timeoutMs).then(
            (s) => done(null, s),
            (e: unknown) => done(e as Error),
          );
          return undefined;
        }) as never,
      });
      req.on("timeout", () => req.destroy(new HoistError("Transport.Timeout", `${method} ${path} got no answer within ${timeoutMs} ms`, { retryable: true })));
      req.on("error", (e) => reject(e instanceof HoistError ? e : new HoistError("Transport.ConnectFailed", `${method} ${path} failed: ${e.message}`, { retryable: true, cause: e })));
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = null;
          if (text) {
            try {
              parsed = JSON.parse(text);
            } catch {
              reject(new HoistError("Transport.BadResponse", `${method} ${path} answered with something that is not JSON`, { retryable: true }));
              return;
            }
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as T });
        });
      });
      req.end(payload);
    });

  return {
    call,
    async json<T>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
      const res = await call<T>(method, path, body, token);
      if (res.status >= 200 && res.status < 300) return res.body;
      const err = (res.body ?? {}) as { code?: string; message?: string; fix?: string; retryable?: boolean };
      throw new HoistError(err.code ?? "Receiver.Error", err.message ?? `${method} ${path} answered HTTP ${res.status}`, {
        fix: err.fix,
        retryable: err.retryable ?? res.status >= 500,
        details: { status: res.status },
      });
    },
  };
}

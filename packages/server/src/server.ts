// `hoist server`: the control plane's HTTP API over one Database. Plain HTTP
// by default (put it behind a TLS proxy, or pass a certificate and key);
// several replicas can share one PostgreSQL, since all state is in it.
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { HoistError } from "@hoist/protocol";
import type { Provider } from "@hoist/providers";
import type { Logger } from "@hoist/runtime";
import type { Database } from "./db/database";
import { migrate } from "./db/migrate";
import { expireJobs, type JobTargets, jobTargetsOf } from "./jobs/store";
import { agentTaskRoutes } from "./http/agent-task-routes";
import { currentTransferSettings, Orchestrator, tasksForAgent } from "./jobs/orchestrator";
import { type JobQueue, startJobQueue } from "./jobs/queue";
import { finishRelease } from "./jobs/release";
import type { JobWork } from "./jobs/work";
import { ensureAdminKey, findApiKey } from "./store/api-keys";
import { markOfflineSources } from "./store/sources";
import { statusOf, toApiError } from "./http/errors";
import { openApiDocument } from "./http/openapi";
import { matchRoute, type Reply, type RequestContext } from "./http/router";
import { buildRoutes } from "./http/routes";
import { consoleFiles } from "./http/console-files";
import { EventHub, type EventHubOptions } from "./http/event-hub";
import { eventRoutes } from "./http/event-routes";
import { imageRoutes } from "./http/image-routes";
import { answerClientErrors, checkQuery, readJsonBody } from "./http/request-input";
import { FailureThrottle, type ThrottleOptions } from "./http/throttle";

export interface ServerOptions {
  db: Database;
  logger: Logger;
  port: number;
  listen?: string;
  version: string;
  /** HOIST_API_KEY: use this key instead of creating one. */
  apiKey?: string | undefined;
  tls?: { certFile: string; keyFile: string } | undefined;
  /** The URL sources reach this server at; defaults to the Host the client used. */
  publicUrl?: string | undefined;
  /** Agents heartbeat this often. */
  heartbeatSeconds?: number;
  /** A source silent this long is offline (at least three heartbeats). */
  offlineAfterSeconds?: number;
  agentBundle?: string | undefined;
  throttle?: ThrottleOptions;
  /** Where intermediate instances and images live; with it the server runs replication jobs. */
  provider?: Provider | undefined;
  /** Replaces the orchestrator (tests of the API alone). */
  work?: JobWork | undefined;
  /** Seconds in one hour of a job's Frequency (3600; tests shorten it). */
  hourSeconds?: number | undefined;
  verifyTimeoutSeconds?: number | undefined;
  /** How long a replica's claim on a job lasts without renewal (default 30 s). */
  leaseSeconds?: number | undefined;
  /** The region images go to when a job names none (default "local"). */
  regionId?: string | undefined;
  /** What jobs may target (default: from the provider; tests of the API alone, without one, set it). */
  targets?: JobTargets | undefined;
  /** The web console's built files, served outside /v1 (without it, / says the console is missing). */
  consoleDir?: string | undefined;
  /** Limits of the console's event stream (GET /v1/events). */
  events?: EventHubOptions | undefined;
}

/** Without a provider, the API still answers but jobs cannot run. */
const noProvider: JobWork = {
  async start() {
    throw new HoistError("Server.NoProvider", "this server runs without a provider, so it cannot run replication jobs", { fix: "Start hoist server with a provider (the local one is the default)." });
  },
  async release() {
    throw new HoistError("Server.NoProvider", "this server runs without a provider, so it cannot release a job's resources", { fix: "Start hoist server with a provider." });
  },
};

export interface RunningServer {
  url: string;
  port: number;
  /** Set only when this start created the admin key: show it once. */
  createdApiKey: string | undefined;
  close(): Promise<void>;
}

function bearerOf(req: IncomingMessage): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1] ?? null;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const { db, logger } = opts;
  const heartbeatSeconds = opts.heartbeatSeconds ?? 30;
  const offlineAfterSeconds = opts.offlineAfterSeconds ?? heartbeatSeconds * 3;
  const migrated = await migrate(db);
  if (migrated.applied.length) logger.info("database migrated", { applied: migrated.applied, version: migrated.version, database: db.kind });
  const admin = await ensureAdminKey(db, opts.apiKey);
  const throttle = new FailureThrottle(opts.throttle);
  const provider = opts.provider;
  let orchestrator: Orchestrator | null = null;
  let queue: JobQueue | null = null;
  if (provider) {
    const o = new Orchestrator({
      db,
      log: logger,
      provider,
      finishRelease,
      ...(opts.hourSeconds ? { hourSeconds: opts.hourSeconds } : {}),
      ...(opts.verifyTimeoutSeconds ? { verifyTimeoutSeconds: opts.verifyTimeoutSeconds } : {}),
      ...(opts.leaseSeconds ? { leaseSeconds: opts.leaseSeconds } : {}),
    });
    queue = await startJobQueue({ db, log: logger, handler: (jobId) => o.advance(jobId) });
    o.attach(queue);
    orchestrator = o;
    const resumed = await o.resume();
    if (resumed) logger.info("jobs in motion taken up again", { count: resumed });
  }
  const work: JobWork = opts.work ?? orchestrator ?? noProvider;
  const hub = new EventHub(db, logger, opts.events);
  const files = consoleFiles(opts.consoleDir);
  const onAgentAuthFailure = (ctx: RequestContext) => throttle.fail(ctx.remote);
  const routes = [
    ...buildRoutes({
      db,
      heartbeatSeconds,
      offlineAfterSeconds,
      agentBundle: opts.agentBundle,
      onAgentAuthFailure,
      work,
      regionId: opts.regionId ?? "local",
      targets: opts.targets ?? jobTargetsOf(provider),
      ...(provider ? { tasksFor: (sourceId: string, running: readonly string[]) => tasksForAgent(db, provider, sourceId, running) } : {}),
    }),
    ...agentTaskRoutes({
      db,
      onAgentAuthFailure,
      settingsOf: (jobId) => currentTransferSettings(db, jobId),
      wake: (jobId) => work.start(jobId),
    }),
    ...imageRoutes({ db, provider }),
    ...eventRoutes(hub),
  ];
  const openapi = JSON.stringify(openApiDocument(routes, opts.version));
  const scheme = opts.tls ? "https" : "http";

  const send = (res: ServerResponse, reply: Reply): void => {
    if (reply.raw) {
      res.writeHead(reply.status, { "content-type": reply.contentType ?? "application/octet-stream", "content-length": reply.raw.length });
      res.end(reply.raw);
      return;
    }
    const text = reply.body === undefined ? "" : JSON.stringify(reply.body);
    res.writeHead(reply.status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
    res.end(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const remote = req.socket.remoteAddress ?? "unknown";
    const started = Date.now();
    let reply: Reply;
    try {
      const url = new URL(req.url ?? "/", "http://localhost");
      const baseUrl = opts.publicUrl?.replace(/\/+$/, "") ?? `${scheme}://${req.headers.host ?? `localhost:${port}`}`;
      if (files.serve(req.method ?? "GET", url.pathname, res)) return;
      if (req.method === "GET" && url.pathname === "/v1/openapi.json") {
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(openapi) });
        res.end(openapi);
        return;
      }
      const match = matchRoute(routes, req.method ?? "GET", url.pathname);
      if (!match) throw new HoistError("Api.NotFound", `no endpoint ${req.method} ${url.pathname}`, { fix: "See /v1/openapi.json for the endpoints." });
      if ("methodNotAllowed" in match) throw new HoistError("Api.MethodNotAllowed", `${req.method} is not allowed on ${url.pathname}`, { fix: "See /v1/openapi.json." });
      const ctx: RequestContext = { params: match.params, query: url.searchParams, body: undefined, headers: req.headers, remote, baseUrl, bearer: bearerOf(req) };
      // Addresses that keep failing wait before anything is checked, so guessing stays slow even in parallel.
      const wait = throttle.delayFor(remote);
      if (wait > 0 && (match.route.auth !== "none" || match.route.method === "POST")) await sleep(wait);
      if (match.route.auth === "apiKey") {
        const keyId = ctx.bearer ? await findApiKey(db, ctx.bearer) : null;
        if (!keyId) {
          throttle.fail(remote);
          throw new HoistError("Api.Unauthorized", ctx.bearer ? "the API key is not valid" : "this endpoint needs an API key", {
            fix: "Send Authorization: Bearer <key> (hoist CLI: --api-key or HOIST_API_KEY).",
          });
        }
        throttle.succeed(remote);
      }
      // PostgreSQL text cannot hold a NUL byte: refuse it here rather than fail in the database.
      for (const [name, value] of [...Object.entries(ctx.params), ...ctx.query.entries()]) {
        if (value.includes("\u0000")) throw new HoistError("Api.InvalidParameter", `${name} contains a NUL byte`, { fix: `Pass ${name} as plain text.` });
      }
      checkQuery(match.route, url.search);
      ctx.body = req.method === "GET" || req.method === "DELETE" ? undefined : await readJsonBody(req);
      if (match.route.body && ctx.body === undefined) ctx.body = {};
      reply = await match.route.handle(ctx);
      if (reply.stream) {
        reply.stream(res);
        logger.debug("stream opened", { method: req.method, path: url.pathname });
        return;
      }
    } catch (e) {
      const err = toApiError(e);
      const status = statusOf(err);
      if (status >= 500) logger.error("request failed", { method: req.method, path: req.url, code: err.code, error: e instanceof Error ? e.message : String(e) });
      reply = { status, body: { code: err.code, message: err.message, ...(err.fix ? { fix: err.fix } : {}), retryable: err.retryable } };
    }
    send(res, reply);
    logger.debug("request", { method: req.method, path: req.url?.split("?")[0], status: reply.status, ms: Date.now() - started });
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((e: unknown) => {
      logger.error("request handler crashed", { error: e instanceof Error ? e.message : String(e) });
      if (!res.headersSent) send(res, { status: 500, body: { code: "Internal.Error", message: "internal error", retryable: true } });
    });
  };
  let server: Server;
  if (opts.tls) {
    let cert: Buffer;
    let key: Buffer;
    try {
      cert = readFileSync(opts.tls.certFile);
      key = readFileSync(opts.tls.keyFile);
    } catch (e) {
      throw new HoistError("Config.TlsFilesUnreadable", `cannot read the TLS certificate or key: ${e instanceof Error ? e.message : String(e)}`, { fix: "Pass readable PEM files with --tls-cert and --tls-key." });
    }
    server = createHttpsServer({ cert, key }, listener);
  } else {
    server = createHttpServer(listener);
  }
  server.keepAliveTimeout = 65_000;
  answerClientErrors(server);
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new HoistError(e.code === "EADDRINUSE" ? "Config.PortInUse" : "Server.ListenFailed", `cannot listen on ${opts.listen ?? "0.0.0.0"}:${opts.port}: ${e.message}`, {
          fix: "Pick another --port (0 picks a free one) or stop what uses it.",
        }),
      ),
    );
    server.listen(opts.port, opts.listen ?? "0.0.0.0", () => resolve((server.address() as AddressInfo).port));
  });

  // Every replica sweeps; the UPDATE is idempotent, so overlapping sweeps are harmless.
  const sweepMs = Math.max(500, Math.min(heartbeatSeconds, offlineAfterSeconds / 2) * 1000);
  let sweeping = false;
  const sweep = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    markOfflineSources(db, offlineAfterSeconds)
      .then((n) => {
        if (n) logger.warn("sources went offline", { count: n, code: "SourceServer.Offline" });
      })
      .then(() => expireJobs(db))
      .then((n) => {
        if (n) logger.info("replication jobs expired", { count: n });
      })
      .catch((e: unknown) => logger.warn("offline sweep failed", { error: e instanceof Error ? e.message : String(e) }))
      .finally(() => {
        sweeping = false;
      });
  }, sweepMs);
  sweep.unref();
  // Jobs a dead replica left behind, and wake-ups nobody took, are picked up here.
  let sweepingJobs = false;
  const jobSweep = setInterval(() => {
    if (!orchestrator || sweepingJobs) return;
    sweepingJobs = true;
    orchestrator
      .sweep()
      .catch((e: unknown) => logger.warn("job sweep failed", { error: e instanceof Error ? e.message : String(e) }))
      .finally(() => {
        sweepingJobs = false;
      });
  }, 5_000);
  jobSweep.unref();

  const host = opts.listen && opts.listen !== "0.0.0.0" && opts.listen !== "::" ? opts.listen : "127.0.0.1";
  return {
    url: `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    createdApiKey: admin.created,
    async close() {
      clearInterval(sweep);
      clearInterval(jobSweep);
      orchestrator?.close();
      hub.close();
      await queue?.stop().catch((e: unknown) => logger.warn("job queue did not stop cleanly", { error: String(e) }));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

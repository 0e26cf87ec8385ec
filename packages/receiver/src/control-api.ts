// The control API on the control port: HTTPS with JSON bodies. Creating a job
// needs the admin token; everything about a job needs that job's token (or
// the admin token). Failures answer {code, message, fix?, retryable}.
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import { hostname } from "node:os";
import { ConvertRequestSchema, CreateJobRequestSchema, HoistError, isHoistError } from "@hoist/protocol";
import { bearerToken, sleep, tokenMatches, sha256Hex } from "./auth";
import type { ReceiverContext } from "./context";
import { publicJob, type StoredJob } from "./job-store";
import { writeDiskToDevice } from "./write-disk";

const MAX_BODY_BYTES = 16 * 1024 * 1024;

const STATUS: Record<string, number> = {
  "Receiver.Unauthorized": 401,
  "Receiver.NotFound": 404,
  "Receiver.BadRequest": 400,
  "Receiver.MethodNotAllowed": 405,
  "Receiver.BodyTooLarge": 413,
  "Receiver.UnsupportedMediaType": 415,
  "Receiver.NotPrepared": 409,
  "Receiver.DiskFull": 507,
  "Receiver.DeviceTooSmall": 409,
};

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
  res.end(text);
}

/** Disk-full anywhere under a request (backend, job files) is its own, actionable error. */
export function toApiError(e: unknown): HoistError {
  const errno = (e as { code?: unknown; cause?: { code?: unknown } } | null) ?? {};
  if (errno.code === "ENOSPC" || errno.cause?.code === "ENOSPC" || /No space left on device/.test(e instanceof Error ? e.message : "")) {
    return new HoistError("Receiver.DiskFull", "the intermediate instance ran out of disk space", {
      fix: "Free space on the receiver's state directory or give the intermediate instance a larger disk, then retry.",
      retryable: true,
    });
  }
  if (isHoistError(e)) return e;
  return new HoistError("Receiver.Internal", e instanceof Error ? e.message : String(e), { retryable: true });
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

function tooLarge(): HoistError {
  return new HoistError("Receiver.BodyTooLarge", `the request body is larger than ${MAX_BODY_BYTES} bytes`, { fix: "Send the body the receiver API documents." });
}

/** A body over the limit is read to its end (so the client hears why) unless it goes on past this. */
const DRAIN_BYTES = 4 * MAX_BODY_BYTES;

/** The body as JSON: refused unless it is labelled JSON, fits the limit, and is UTF-8. An empty body is {}. */
function readJson(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if ((declared > 0 || req.headers["transfer-encoding"]) && !/^application\/json\s*(;|$)/i.test(req.headers["content-type"] ?? "")) {
    return Promise.reject(new HoistError("Receiver.UnsupportedMediaType", `the request body is ${req.headers["content-type"] ?? "unlabelled"}, not application/json`, { fix: "Send a JSON body with content-type application/json." }));
  }
  if (declared > DRAIN_BYTES) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > DRAIN_BYTES) {
        reject(tooLarge());
        req.destroy();
      } else if (size <= MAX_BODY_BYTES) {
        chunks.push(c);
      }
    });
    req.on("error", reject);
    req.on("end", () => {
      if (size > MAX_BODY_BYTES) return reject(tooLarge());
      let text: string;
      try {
        text = UTF8.decode(Buffer.concat(chunks));
      } catch {
        return reject(new HoistError("Receiver.BadRequest", "the request body is not UTF-8"));
      }
      if (!text) return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new HoistError("Receiver.BadRequest", "the request body is not JSON"));
      }
    });
  });
}

function badRequest(message: string): HoistError {
  return new HoistError("Receiver.BadRequest", message, { fix: "Send the body the receiver API documents." });
}

export function createControlServer(ctx: ReceiverContext): Server {
  const adminSha = sha256Hex(ctx.state.adminToken);
  const server = createServer({ cert: ctx.state.certPem, key: ctx.state.keyPem }, (req, res) => {
    handle(ctx, adminSha, req, res).catch((e: unknown) => {
      const err = toApiError(e);
      if (res.headersSent) return;
      // A body left unread would be taken for the next request: close the connection after the answer.
      if (!req.complete) res.setHeader("connection", "close");
      if (err.code === "Receiver.MethodNotAllowed") res.setHeader("allow", String(err.details?.allow ?? ""));
      send(res, STATUS[err.code] ?? (err.code.startsWith("Receiver.") ? 500 : 400), err.toJSON());
    });
  });
  server.on("tlsClientError", (e) => ctx.log.debug("TLS handshake failed on the control port", { error: e.message }));
  return server;
}

const JOB_PATH = /^\/v1\/jobs\/([^/]+)(?:\/(prepare|convert|detach|token))?$/;

/** The methods a path answers to, or undefined for a path that is not the API's. */
function allowedMethods(path: string): readonly string[] | undefined {
  if (path === "/v1/health") return ["GET"];
  if (path === "/v1/jobs" || path === "/v1/disks/write") return ["POST"];
  const m = JOB_PATH.exec(path);
  if (!m) return undefined;
  return m[2] ? ["POST"] : ["GET", "DELETE"];
}

async function handle(ctx: ReceiverContext, adminSha: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const address = req.socket.remoteAddress ?? "unknown";
  const url = new URL(req.url ?? "/", "https://receiver");
  const method = req.method ?? "GET";
  const path = url.pathname;
  const token = bearerToken(req.headers.authorization);

  const refuse = async (): Promise<never> => {
    ctx.throttle.fail(address);
    ctx.log.warn("control request refused: bad token", { address, method, path, credential: token === undefined ? "missing" : "wrong" });
    throw ctx.unauthorized();
  };

  const allowed = allowedMethods(path);
  if (!allowed) throw new HoistError("Receiver.NotFound", `no such endpoint: ${method} ${path}`);
  if (!allowed.includes(method)) {
    throw new HoistError("Receiver.MethodNotAllowed", `${path} does not answer ${method}; it answers ${allowed.join(", ")}`, { details: { allow: allowed.join(", ") } });
  }

  if (method === "GET" && path === "/v1/health") {
    send(res, 200, { version: ctx.version, time: new Date().toISOString(), hostname: hostname() });
    return;
  }

  await sleep(ctx.throttle.delayFor(address));
  const isAdmin = token !== undefined && tokenMatches(token, adminSha);

  if (method === "POST" && path === "/v1/jobs") {
    if (!isAdmin) await refuse();
    const body = CreateJobRequestSchema.safeParse(await readJson(req));
    if (!body.success) throw badRequest(`invalid job: ${body.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    const { job, token: jobToken } = await ctx.store.create(body.data.plan, body.data.label);
    ctx.log.info("job created", { jobId: job.jobId, disks: job.plan.disks.map((d) => d.key) });
    send(res, 201, { jobId: job.jobId, token: jobToken });
    return;
  }

  if (method === "POST" && path === "/v1/disks/write") {
    // A cloud provider copies a finished target disk onto an attached cloud disk before snapshotting it.
    if (!isAdmin) await refuse();
    const body = (await readJson(req)) as { source?: unknown; device?: unknown };
    if (typeof body.source !== "string" || typeof body.device !== "string") throw badRequest("write needs a body {source, device}");
    const written = await writeDiskToDevice(ctx.state.jobsDir, body.source, body.device, ctx.log);
    send(res, 200, written);
    return;
  }

  const m = JOB_PATH.exec(path);
  if (!m) throw new HoistError("Receiver.NotFound", `no such endpoint: ${method} ${path}`);
  const jobId = m[1] ?? "";
  const action = m[2];
  let job: StoredJob | undefined = isAdmin ? await ctx.store.get(jobId) : await ctx.authenticateJob(jobId, token);
  if (!job) {
    if (isAdmin) throw new HoistError("Receiver.NotFound", `job ${jobId} does not exist on this receiver`);
    await refuse();
  }
  const log = ctx.log.child({ jobId });
  const targets = () => ({ jobDir: ctx.store.jobDir(jobId), plan: job!.plan });

  if (method === "GET" && !action) {
    send(res, 200, publicJob(job!));
    return;
  }
  if (method === "POST" && action === "token") {
    // Only the instance's owner (the control plane) may hand out a job's credential again.
    if (!isAdmin) await refuse();
    const fresh = await ctx.withJob(jobId, async () => ctx.store.rotateToken((await ctx.store.get(jobId)) ?? job!));
    log.info("job token issued");
    send(res, 200, { jobId, token: fresh });
    return;
  }
  if (method === "POST" && action === "prepare") {
    const disks = await ctx.withJob(jobId, async () => {
      job = (await ctx.store.get(jobId)) ?? job!;
      return ctx.prepare(job);
    });
    send(res, 200, { jobId, state: "prepared", disks });
    return;
  }
  if (method === "POST" && action === "convert") {
    const body = ConvertRequestSchema.safeParse(await readJson(req));
    if (!body.success) throw badRequest("convert needs a body {inventory}");
    const report = await ctx.withJob(jobId, async () => {
      const current = (await ctx.store.get(jobId)) ?? job!;
      if (current.state !== "prepared" && current.state !== "converted") {
        throw new HoistError("Receiver.NotPrepared", `job ${jobId} is ${current.state}; prepare it first`, { fix: "Call POST /v1/jobs/:id/prepare." });
      }
      // A caller that died waiting for a conversion asks again: the conversion it started is the
      // answer. Preparing the job for the next copy makes the next request convert anew.
      if (current.state === "converted" && current.conversion !== undefined) {
        log.info("job converted already; its report is returned");
        return current.conversion;
      }
      const out = await ctx.backend.convert(targets(), body.data.inventory, log);
      current.state = "converted";
      current.conversion = out;
      await ctx.store.save(current);
      return out;
    });
    send(res, 200, { jobId, state: "converted", report });
    return;
  }
  if (method === "POST" && action === "detach") {
    const disks = await ctx.withJob(jobId, async () => {
      const current = (await ctx.store.get(jobId)) ?? job!;
      const out = await ctx.backend.detach(targets(), log);
      ctx.markDetached(jobId);
      current.state = "detached";
      current.disks = out;
      await ctx.store.save(current);
      return out;
    });
    send(res, 200, { jobId, state: "detached", disks });
    return;
  }
  if (method === "DELETE" && !action) {
    await ctx.withJob(jobId, async () => {
      await ctx.backend.release(targets(), log);
      ctx.markDetached(jobId);
      await ctx.store.remove(jobId);
    });
    log.info("job deleted");
    send(res, 200, { jobId, deleted: true });
    return;
  }
  throw new HoistError("Receiver.NotFound", `no such endpoint: ${method} ${path}`);
}

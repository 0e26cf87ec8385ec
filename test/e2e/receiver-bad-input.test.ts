// Every route of the receiver's control API, sent what a broken or hostile
// client might send: each request is refused with a 4xx and a stable code
// (never a 500, never a hang), the refusal is JSON {code, message, retryable},
// and the receiver goes on serving good requests with nothing written where a
// refused request pointed.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import type { Socket } from "node:net";
import { join } from "node:path";
import type { CreateJobResponse, ReceiverReady } from "@hoist/protocol";
import { connectPinned } from "@hoist/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ONE_DISK_PLAN, type ReceiverProcess, startReceiverProcess } from "../helpers/receiver";

const base = mkdtempSync("/var/tmp/hoist-receiver-bad-input-");
const stateDir = join(base, "state");
/** A file a refused disk write names as its device; it must keep its content. */
const victim = join(base, "victim");

let receiver: ReceiverProcess;
let ready: ReceiverReady;
let admin: string;
let job: CreateJobResponse;
let other: CreateJobResponse;

interface Reply {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

/** One raw request: any method, path, headers and body bytes. */
function raw(method: string, path: string, token: string | undefined, body?: Buffer | string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolveReply, reject) => {
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
    const h: Record<string, string> = { ...headers };
    if (payload) {
      h["content-type"] ??= "application/json";
      h["content-length"] = String(payload.length);
    }
    if (token) h.authorization = `Bearer ${token}`;
    const endpoint = { host: "127.0.0.1", port: ready.controlPort, fingerprint: ready.fingerprint };
    const req = request({
      method,
      path,
      headers: h,
      timeout: 30_000,
      createConnection: ((_o: unknown, done: (e: Error | null, s?: Socket) => void) => {
        connectPinned(endpoint).then(
          (s) => done(null, s),
          (e: unknown) => done(e as Error),
        );
        return undefined;
      }) as never,
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path} got no answer`)));
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        try {
          resolveReply({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers });
        } catch {
          reject(new Error(`${method} ${path} answered ${res.statusCode} with a body that is not JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    req.end(payload);
  });
}

beforeAll(async () => {
  receiver = await startReceiverProcess(stateDir, { backend: "dir", logLevel: "error" });
  ready = receiver.ready;
  admin = readFileSync(join(stateDir, "admin.token"), "utf8").trim();
  writeFileSync(victim, "untouched\n");
  job = (await raw("POST", "/v1/jobs", admin, JSON.stringify({ plan: ONE_DISK_PLAN }))).body as unknown as CreateJobResponse;
  other = (await raw("POST", "/v1/jobs", admin, JSON.stringify({ plan: ONE_DISK_PLAN }))).body as unknown as CreateJobResponse;
  expect(job.jobId).toMatch(/^j-/);
});

afterAll(async () => {
  await receiver?.stop();
  rmSync(base, { recursive: true, force: true });
});

type Who = "admin" | "job" | "other" | "none" | "garbage";
const tokenOf = (who: Who): string | undefined => ({ admin, job: job.token, other: other.token, none: undefined, garbage: "x".repeat(64) })[who];

interface Case {
  name: string;
  method: string;
  path: () => string;
  who: Who;
  body?: () => Buffer | string;
  headers?: Record<string, string>;
  status: number;
  code: string;
}

const plan = (patch: Record<string, unknown>) => JSON.stringify({ plan: { ...ONE_DISK_PLAN, ...patch } });
const jobPath = (suffix = "") => () => `/v1/jobs/${job.jobId}${suffix}`;
const latin1 = (s: string) => Buffer.from(s, "latin1");

const CASES: Case[] = [
  // Bodies of a job.
  { name: "create with a body that is not JSON", method: "POST", path: () => "/v1/jobs", who: "admin", body: () => "{plan:", status: 400, code: "Receiver.BadRequest" },
  { name: "create with a JSON array", method: "POST", path: () => "/v1/jobs", who: "admin", body: () => "[]", status: 400, code: "Receiver.BadRequest" },
  { name: "create with JSON null", method: "POST", path: () => "/v1/jobs", who: "admin", body: () => "null", status: 400, code: "Receiver.BadRequest" },
  { name: "create with a number", method: "POST", path: () => "/v1/jobs", who: "admin", body: () => "7", status: 400, code: "Receiver.BadRequest" },
  { name: "create with no body", method: "POST", path: () => "/v1/jobs", who: "admin", status: 400, code: "Receiver.BadRequest" },
  { name: "create with an empty plan", method: "POST", path: () => "/v1/jobs", who: "admin", body: () => JSON.stringify({ plan: {} }), status: 400, code: "Receiver.BadRequest" },
  { name: "create with no disks", method: "POST", path: () => "/v1/jobs", who: "admin", body: () => plan({ disks: [] }), status: 400, code: "Receiver.BadRequest" },
  { name: "create with 18 disks", method: "POST", path: () => "/v1/jobs", who: "admin", body: () => plan({ disks: Array.from({ length: 18 }, () => ONE_DISK_PLAN.disks[0]) }), status: 400, code: "Receiver.BadRequest" },
  { name: "create with an unknown boot mode", method: "POST", path: () => "/v1/jobs", who: "admin", body: () => plan({ bootMode: "coreboot" }), status: 400, code: "Receiver.BadRequest" },
  { name: "create with lvm as a string", method: "POST", path: () => "/v1/jobs", who: "admin", body: () => plan({ lvm: "yes" }), status: 400, code: "Receiver.BadRequest" },
  { name: "create with a disk key that is a path", method: "POST", path: () => "/v1/jobs", who: "admin", body: () => plan({ disks: [{ ...ONE_DISK_PLAN.disks[0], key: "../etc" }] }), status: 400, code: "Receiver.BadRequest" },
  { name: "create with a label of 201 characters", method: "POST", path: () => "/v1/jobs", who: "admin", body: () => JSON.stringify({ plan: ONE_DISK_PLAN, label: "l".repeat(201) }), status: 400, code: "Receiver.BadRequest" },
  { name: "create with a label that is not UTF-8", method: "POST", path: () => "/v1/jobs", who: "admin", body: () => latin1(`{"plan":${JSON.stringify(ONE_DISK_PLAN)},"label":"caf\xe9"}`), status: 400, code: "Receiver.BadRequest" },
  { name: "create with a body over 16 MiB", method: "POST", path: () => "/v1/jobs", who: "admin", body: () => Buffer.alloc(16 * 2 ** 20 + 1, 0x20), status: 413, code: "Receiver.BodyTooLarge" },
  { name: "create with a form body", method: "POST", path: () => "/v1/jobs", who: "admin", body: () => "plan=x", headers: { "content-type": "application/x-www-form-urlencoded" }, status: 415, code: "Receiver.UnsupportedMediaType" },
  { name: "convert with a body that is not JSON", method: "POST", path: jobPath("/convert"), who: "job", body: () => "inventory", status: 400, code: "Receiver.BadRequest" },
  { name: "convert a job that is not prepared", method: "POST", path: jobPath("/convert"), who: "job", body: () => JSON.stringify({ inventory: {} }), status: 409, code: "Receiver.NotPrepared" },
  // Writing a disk onto a device.
  { name: "write a disk with no body", method: "POST", path: () => "/v1/disks/write", who: "admin", status: 400, code: "Receiver.BadRequest" },
  { name: "write a disk with numbers for paths", method: "POST", path: () => "/v1/disks/write", who: "admin", body: () => JSON.stringify({ source: 1, device: 2 }), status: 400, code: "Receiver.BadRequest" },
  { name: "write a disk from a relative path", method: "POST", path: () => "/v1/disks/write", who: "admin", body: () => JSON.stringify({ source: "jobs/x.raw", device: "/dev/null" }), status: 400, code: "Receiver.BadRequest" },
  { name: "write a disk from a file outside the jobs", method: "POST", path: () => "/v1/disks/write", who: "admin", body: () => JSON.stringify({ source: "/etc/passwd", device: victim }), status: 400, code: "Receiver.BadRequest" },
  { name: "write a disk from a file that does not exist", method: "POST", path: () => "/v1/disks/write", who: "admin", body: () => JSON.stringify({ source: join(stateDir, "jobs/none.raw"), device: victim }), status: 404, code: "Receiver.NotFound" },
  // Paths and methods.
  { name: "an unknown path", method: "GET", path: () => "/v1/nothing", who: "admin", status: 404, code: "Receiver.NotFound" },
  { name: "a job id that is a path", method: "GET", path: () => "/v1/jobs/..%2Fadmin.token", who: "admin", status: 404, code: "Receiver.NotFound" },
  { name: "a job id with a NUL", method: "GET", path: () => "/v1/jobs/j-%00", who: "admin", status: 404, code: "Receiver.NotFound" },
  { name: "a job that does not exist", method: "GET", path: () => "/v1/jobs/j-0000000000000000", who: "admin", status: 404, code: "Receiver.NotFound" },
  { name: "an unknown action of a job", method: "POST", path: jobPath("/format"), who: "job", status: 404, code: "Receiver.NotFound" },
  { name: "PUT on the jobs", method: "PUT", path: () => "/v1/jobs", who: "admin", body: () => plan({}), status: 405, code: "Receiver.MethodNotAllowed" },
  { name: "GET on the jobs", method: "GET", path: () => "/v1/jobs", who: "admin", status: 405, code: "Receiver.MethodNotAllowed" },
  { name: "GET on prepare", method: "GET", path: jobPath("/prepare"), who: "job", status: 405, code: "Receiver.MethodNotAllowed" },
  { name: "PATCH on a job", method: "PATCH", path: jobPath(), who: "job", body: () => "{}", status: 405, code: "Receiver.MethodNotAllowed" },
  { name: "DELETE on the health check", method: "DELETE", path: () => "/v1/health", who: "none", status: 405, code: "Receiver.MethodNotAllowed" },
  // Credentials, last: each refusal slows the next request from the same address.
  { name: "create without a token", method: "POST", path: () => "/v1/jobs", who: "none", body: () => plan({}), status: 401, code: "Receiver.Unauthorized" },
  { name: "create with a job's token", method: "POST", path: () => "/v1/jobs", who: "job", body: () => plan({}), status: 401, code: "Receiver.Unauthorized" },
  { name: "create with a made-up token", method: "POST", path: () => "/v1/jobs", who: "garbage", body: () => plan({}), status: 401, code: "Receiver.Unauthorized" },
  { name: "write a disk with a job's token", method: "POST", path: () => "/v1/disks/write", who: "job", body: () => "{}", status: 401, code: "Receiver.Unauthorized" },
  { name: "show a job with another job's token", method: "GET", path: jobPath(), who: "other", status: 401, code: "Receiver.Unauthorized" },
  { name: "prepare a job with another job's token", method: "POST", path: jobPath("/prepare"), who: "other", status: 401, code: "Receiver.Unauthorized" },
  { name: "delete a job with another job's token", method: "DELETE", path: jobPath(), who: "other", status: 401, code: "Receiver.Unauthorized" },
  { name: "a new token for a job with its own token", method: "POST", path: jobPath("/token"), who: "job", status: 401, code: "Receiver.Unauthorized" },
];

describe("receiver control API with bad input", () => {
  it.each(CASES)("$name: $status $code", async (c) => {
    const reply = await raw(c.method, c.path(), tokenOf(c.who), c.body?.(), c.headers);
    expect({ status: reply.status, code: reply.body.code }).toEqual({ status: c.status, code: c.code });
    expect(typeof reply.body.message).toBe("string");
    expect(typeof reply.body.retryable).toBe("boolean");
    if (c.status === 405) expect(reply.headers.allow).toMatch(/^[A-Z, ]+$/);
  });

  it("made no job, touched no file, and still serves good requests", async () => {
    expect(readFileSync(victim, "utf8")).toBe("untouched\n");
    expect(readdirSync(join(stateDir, "jobs")).sort()).toEqual([job.jobId, other.jobId].sort());
    expect((await raw("GET", "/v1/health", undefined)).status).toBe(200);
    expect((await raw("GET", `/v1/jobs/${job.jobId}`, job.token)).body).toMatchObject({ jobId: job.jobId, state: "created" });
    expect((await raw("POST", `/v1/jobs/${job.jobId}/prepare`, job.token)).status).toBe(200);
    expect(receiver.proc.exitCode).toBe(null);
  });
});

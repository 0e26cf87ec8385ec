// Bad input to every API route, derived from the OpenAPI document the server
// serves: every body property is sent with the wrong type, out of its range,
// empty, huge, with a NUL or a lone surrogate; every query parameter likewise;
// whole bodies that are not JSON, not UTF-8, of another content type or too
// large. Each is answered 400 (413 for a body past the limit, 415 for another
// content type) with a code the document lists for the route and a message
// naming what was wrong, and the database is exactly as it was. A route, a
// body property or a query parameter added without a bound fails here.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startInProcessServer } from "../../../test/helpers/api-server";
import type { Database } from "./db/database";
import { inventoryFixture } from "./db/db-suite";
import type { JobWork } from "./jobs/work";
import type { RunningServer } from "./server";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  pattern?: string;
}
interface Operation {
  operationId: string;
  parameters?: { name: string; in: "path" | "query"; schema: Schema }[];
  requestBody?: { content: { "application/json": { schema: Schema } } };
  "x-error-codes"?: string[];
}
interface OpenApi {
  paths: Record<string, Record<string, Operation>>;
  "x-error-codes"?: string[];
}

const API_KEY = "hk_bad-input-tests-0123456789abcdefghijklmnop";
const MiB = 2 ** 20;

/** Background work that must never be asked for anything by a refused request. */
class RecordingWork implements JobWork {
  readonly calls: string[] = [];
  async start(jobId: string): Promise<void> {
    this.calls.push(`start ${jobId}`);
  }
  async release(jobId: string): Promise<void> {
    this.calls.push(`release ${jobId}`);
  }
}

let db: Database;
let server: RunningServer;
let doc: OpenApi;
const work = new RecordingWork();
const ids = { sourceId: "", agentToken: "", jobId: "", taskId: "t-bad-input-1", code: "" };

interface Sent {
  method: string;
  path: string;
  body?: string | Buffer;
  contentType?: string | null;
  auth?: string | null;
}
interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function send(r: Sent): Promise<Answer> {
  const headers: Record<string, string> = {};
  const auth = r.auth === undefined ? API_KEY : r.auth;
  if (auth !== null) headers["authorization"] = `Bearer ${auth}`;
  const type = r.contentType === undefined ? "application/json" : r.contentType;
  if (type !== null && r.body !== undefined) headers["content-type"] = type;
  const res = await fetch(`${server.url}${r.path}`, { method: r.method, headers, ...(r.body === undefined ? {} : { body: typeof r.body === "string" ? r.body : new Uint8Array(r.body) }) });
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = { unparsed: text.slice(0, 200) };
  }
  return { status: res.status, body };
}

/** Every row of every table, except the API key's last use (written at most once a minute by any call). */
async function snapshot(): Promise<string> {
  const tables = await db.query<{ table_name: string }>("select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1");
  const out: string[] = [];
  for (const { table_name: t } of tables) {
    const rows = await db.query<{ j: Record<string, unknown> }>(`select to_jsonb(x) as j from "${t}" x`);
    const clean = rows.map(({ j }) => {
      const row = typeof j === "string" ? (JSON.parse(j) as Record<string, unknown>) : { ...j };
      if (t === "api_keys") delete row["last_used_at"];
      return JSON.stringify(row, Object.keys(row).sort());
    });
    out.push(`${t}: ${clean.sort().join("\n")}`);
  }
  return out.join("\n\n");
}

// --- What each route needs to get past authentication and reach its checks.

/** An inventory with one of everything, so every nested field is swept. */
function fullInventory(): Json {
  return {
    ...(inventoryFixture("bad-input") as unknown as Record<string, Json>),
    os: { id: "debian", versionId: "12", prettyName: "Debian GNU/Linux 12 (bookworm)", idLike: ["debian"] },
    bootloader: { kind: "grub2", version: "2.06" },
    kernels: [{ version: "6.1.0-18-amd64", image: "/boot/vmlinuz-6.1.0-18-amd64", initramfs: "/boot/initrd.img-6.1.0-18-amd64", virtio: { virtio_blk: true, virtio_net: true, virtio_scsi: true } }],
    disks: [{ name: "vda", path: "/dev/vda", sizeBytes: 10 * 2 ** 30, table: "mbr", partitions: [{ name: "vda1", path: "/dev/vda1", sizeBytes: 10 * 2 ** 30, fs: "ext4", uuid: "3f1c2a4e-0000-4000-8000-000000000001", mountPoint: "/" }] }],
    mounts: [{ mountPoint: "/", device: "/dev/vda1", fs: "ext4", sizeBytes: 10 * 2 ** 30, usedBytes: 2 * 2 ** 30 }],
    paths: [{ path: "/data", usedBytes: 2 ** 20 }],
  };
}

interface Fixture {
  /** Values of the path parameters. */
  params?: () => Record<string, string>;
  auth?: () => string | null;
  /** A body the route accepts; each bad body is this one with one thing wrong. */
  body?: () => Json;
  /** The status and code the untouched body is answered with (checked after the sweep, since it may change things). */
  accepted?: [status: number, code?: string];
}

// One entry per operation of the OpenAPI document: a new route without one fails the sweep.
const FIXTURES: Record<string, Fixture> = {
  createActivationCode: { body: () => ({ uses: 5, validityDays: 30, description: "bad-input sweep" }), accepted: [201] },
  listActivationCodes: {},
  registerAgent: { auth: () => null, body: () => ({ activationCode: ids.code, name: "bad-input-2", agentVersion: "0.1.0", inventory: fullInventory() }), accepted: [201] },
  agentHeartbeat: { auth: () => ids.agentToken, body: () => ({ agentVersion: "0.1.0", inventory: fullInventory(), runningTaskIds: ["t-1"] }), accepted: [200] },
  listSources: {},
  getSource: { params: () => ({ sourceId: ids.sourceId }) },
  deleteSource: { params: () => ({ sourceId: "s-none" }) },
  downloadAgent: {},
  getOpenApi: {},
  reportTaskProgress: { auth: () => ids.agentToken, params: () => ({ taskId: ids.taskId }), body: () => ({ bytesDone: 10, bytesTotal: 100, bytesPerSecond: 5.5, disk: "system" }), accepted: [200] },
  reportTaskResult: {
    auth: () => ids.agentToken,
    params: () => ({ taskId: "t-none" }),
    body: () => ({ ok: true, inventory: fullInventory(), blockSources: [{ mountPoint: "/data", device: "/dev/vdb1", fs: "ext4", uuid: "3f1c2a4e-0000-4000-8000-000000000002", sourceBytes: 2 ** 30 }], bytesTotal: 100, vanishedFiles: false }),
    accepted: [404, "AgentTask.NotFound"],
  },
  createReplicationJob: {
    body: () => ({
      SourceId: ids.sourceId,
      Name: "bad-input",
      Description: "sweep",
      TargetType: "Image",
      RegionId: "local",
      ImageName: "bad-input-image",
      SystemDiskSize: 40,
      SystemDiskParts: [{ Path: "/", Block: false }],
      DataDisks: [{ Index: 1, Size: 20, SourcePath: "/data", Block: false }],
      BootMode: "auto",
      Filesystem: "ext4",
      SeparateBoot: false,
      Lvm: false,
      NetMode: 0,
      VpcId: "vpc-1",
      VSwitchId: "vsw-1",
      RateLimit: 100,
      CompressLevel: 5,
      Checksum: false,
      Ssl: "Auto",
      ParallelStreams: 4,
      LicenseType: "Aliyun",
      InstanceType: "ecs.g6.large",
      Tags: [{ Key: "team", Value: "web" }],
      RunOnce: false,
      Frequency: 24,
      MaxNumberOfImageToKeep: 3,
      ExecutionMethod: "CreateOnly",
      ValidTime: new Date(Date.now() + 30 * 86_400_000).toISOString(),
      VerifyImage: true,
    }),
    // The source already has a job (made in beforeAll): a body that passed every check meets that.
    accepted: [400, "ReplicationJob.SourceBusy"],
  },
  describeReplicationJobs: {},
  describeReplicationJob: { params: () => ({ jobId: ids.jobId }) },
  startReplicationJob: { params: () => ({ jobId: "j-none" }) },
  stopReplicationJob: { params: () => ({ jobId: "j-none" }) },
  retryReplicationJob: { params: () => ({ jobId: "j-none" }) },
  cancelReplicationJob: { params: () => ({ jobId: "j-none" }) },
  modifyReplicationJobAttribute: {
    params: () => ({ jobId: "j-none" }),
    body: () => ({
      Name: "renamed",
      Description: "d",
      RateLimit: 10,
      CompressLevel: 3,
      Checksum: true,
      Frequency: 12,
      MaxNumberOfImageToKeep: 2,
      ValidTime: new Date(Date.now() + 30 * 86_400_000).toISOString(),
      Tags: [{ Key: "k", Value: "v" }],
    }),
    accepted: [404, "ReplicationJob.NotFound"],
  },
  deleteReplicationJob: { params: () => ({ jobId: "j-none" }) },
  listJobImages: {},
  listSourceJobs: { params: () => ({ sourceId: ids.sourceId }) },
  describeJobImage: { params: () => ({ imageName: "i-none" }) },
  deleteJobImage: { params: () => ({ imageName: "i-none" }) },
  checkJobImage: { params: () => ({ imageName: "i-none" }) },
  streamEvents: {},
};

// --- Bad values, derived from a JSON schema.

type Path = (string | number)[];
interface Leaf {
  path: Path;
  schema: Schema;
  /** Whether null is allowed here (before a branch of an anyOf was taken). */
  nullable: boolean;
  /** The value in the accepted body, when it has one. */
  present: boolean;
  value: unknown;
}

const types = (s: Schema): string[] => (Array.isArray(s.type) ? s.type : s.type ? [s.type] : []);
const nullable = (s: Schema): boolean => types(s).includes("null") || (s.anyOf ?? []).some((b) => types(b).includes("null"));

/** The branch of an anyOf the accepted value takes (unions of objects, nullable objects). */
function branch(s: Schema, value: unknown): Schema {
  const options = (s.anyOf ?? s.oneOf ?? []).filter((b) => !(types(b).length === 1 && types(b)[0] === "null"));
  if (options.length === 0) return s;
  if (options.length === 1) return options[0] as Schema;
  const keys = value && typeof value === "object" && !Array.isArray(value) ? Object.keys(value) : [];
  return (
    options.find((b) => keys.every((k) => b.properties?.[k] !== undefined) && Object.entries(b.properties ?? {}).every(([k, p]) => p.const === undefined || p.const === (value as Record<string, unknown>)[k])) ??
    (options[0] as Schema)
  );
}

function leaves(schema: Schema, value: unknown, path: Path = []): Leaf[] {
  const s = branch(schema, value);
  const out: Leaf[] = path.length ? [{ path, schema: s, nullable: nullable(schema), present: value !== undefined, value }] : [];
  if (s.properties && (value === undefined || (typeof value === "object" && value !== null))) {
    for (const [k, p] of Object.entries(s.properties)) {
      const v = value === undefined ? undefined : (value as Record<string, unknown>)[k];
      if (v === undefined) out.push({ path: [...path, k], schema: branch(p, undefined), nullable: nullable(p), present: false, value: undefined });
      else out.push(...leaves(p, v, [...path, k]));
    }
  }
  if (s.items && Array.isArray(value) && value.length > 0) out.push(...leaves(s.items, value[0], [...path, 0]));
  return out;
}

interface Bad {
  what: string;
  value: unknown;
}

function badValues(leaf: Leaf): Bad[] {
  const s = leaf.schema;
  const t = types(s).filter((x) => x !== "null");
  const bad: Bad[] = [];
  if (!leaf.nullable) bad.push({ what: "null", value: null });
  if (t.includes("string")) {
    bad.push({ what: "a number for text", value: 12345 });
    bad.push({ what: "a NUL character", value: "a\u0000b" });
    bad.push({ what: "a lone surrogate", value: "a\ud800b" });
    bad.push({ what: "1 MB of text", value: "x".repeat(MiB) });
    if (s.maxLength !== undefined) bad.push({ what: `${s.maxLength + 1} characters`, value: "x".repeat(s.maxLength + 1) });
    if ((s.minLength ?? 0) > 0) bad.push({ what: "empty text", value: "" });
    if (s.enum) bad.push({ what: "a value not in the list", value: "NotAValue" });
  } else if (t.includes("number") || t.includes("integer")) {
    bad.push({ what: "text for a number", value: "1" });
    bad.push({ what: "a boolean for a number", value: true });
    bad.push({ what: "a huge number", value: 1e300 });
    if (t.includes("integer")) bad.push({ what: "a fraction", value: 1.5 });
    if (s.minimum !== undefined) bad.push({ what: "below the minimum", value: s.minimum - (t.includes("integer") ? 1 : 0.5) });
    if (s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER) bad.push({ what: "above the maximum", value: s.maximum + 1 });
  } else if (t.includes("boolean")) {
    bad.push({ what: "text for a boolean", value: "true" });
    bad.push({ what: "a number for a boolean", value: 1 });
  } else if (t.includes("array")) {
    bad.push({ what: "an object for a list", value: {} });
    bad.push({ what: "text for a list", value: "x" });
    if (s.maxItems !== undefined && Array.isArray(leaf.value) && leaf.value.length > 0) bad.push({ what: `${s.maxItems + 1} items`, value: Array(s.maxItems + 1).fill(leaf.value[0]) });
  } else if (t.includes("object")) {
    bad.push({ what: "a list for an object", value: [] });
    bad.push({ what: "text for an object", value: "x" });
    if (s.additionalProperties === false && leaf.present) bad.push({ what: "an unknown field", value: { ...(leaf.value as object), NotAField: 1 } });
  }
  return bad;
}

function withValue(body: Json, path: Path, value: unknown): Json {
  const copy = structuredClone(body) as Record<string | number, unknown>;
  let at: Record<string | number, unknown> = copy;
  for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
  at[path[path.length - 1] as string | number] = value;
  return copy as Json;
}

/** The name a message must mention: the last named segment of the path. */
const fieldName = (path: Path): string => String([...path].reverse().find((p) => typeof p === "string") ?? "body");

/** A JSON text with one string's bytes replaced by another encoding's. */
function latin1Body(body: Json): Buffer {
  const text = JSON.stringify(body);
  const at = text.indexOf('":"') + 3;
  return Buffer.concat([Buffer.from(text.slice(0, at), "utf8"), Buffer.from([0x63, 0x61, 0x66, 0xe9]), Buffer.from(text.slice(at), "utf8")]);
}

function utf16Body(body: Json): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(JSON.stringify(body), "utf16le")]);
}

// --- The sweep.

interface Problem {
  op: string;
  what: string;
  got: string;
}

/**
 * Runs `sweep`, which notes each answer that is not what it should be; then nothing may be
 * noted, no job work asked for, and no row of the database changed.
 */
async function sweepChangingNothing(sweep: (problems: Problem[]) => Promise<void>): Promise<void> {
  const before = await snapshot();
  const problems: Problem[] = [];
  await sweep(problems);
  expect(problems).toEqual([]);
  expect(work.calls).toEqual([]);
  expect(await snapshot()).toBe(before);
}

function operations(): { method: string; path: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ method: method.toUpperCase(), path, op })));
}

function urlOf(path: string, fixture: Fixture, query = ""): string {
  const params = fixture.params?.() ?? {};
  return `${path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? "x"))}${query}`;
}

beforeAll(async () => {
  ({ db, server } = await startInProcessServer({ apiKey: API_KEY, heartbeatSeconds: 3600, offlineAfterSeconds: 86_400, work, throttle: { baseDelayMs: 0, maxDelayMs: 0 } }));
  doc = (await (await fetch(`${server.url}/v1/openapi.json`)).json()) as OpenApi;
  const code = await send({ method: "POST", path: "/v1/activation-codes", body: JSON.stringify({ uses: 10 }) });
  ids.code = code.body["code"] as string;
  const reg = await send({ method: "POST", path: "/v1/agents/register", auth: null, body: JSON.stringify({ activationCode: ids.code, name: "bad-input-1", inventory: fullInventory() }) });
  expect(reg.status, JSON.stringify(reg.body)).toBe(201);
  ids.sourceId = reg.body["sourceId"] as string;
  ids.agentToken = reg.body["agentToken"] as string;
  const job = await send({ method: "POST", path: "/v1/jobs", body: JSON.stringify({ SourceId: ids.sourceId, ExecutionMethod: "CreateOnly", DataDisks: [{ Index: 1, SourcePath: "/data" }] }) });
  expect(job.status, JSON.stringify(job.body)).toBe(201);
  ids.jobId = job.body["JobId"] as string;
  // A transfer task the agent is working on, as the orchestrator would have handed it out.
  await db.query("update replication_jobs set status = 'Running', business_status = 'Syncing' where job_id = $1", [ids.jobId]);
  await db.query("insert into agent_tasks (task_id, job_id, source_id, run, kind, payload, state) values ($1, $2, $3, 1, 'transfer', '{}'::jsonb, 'running')", [ids.taskId, ids.jobId, ids.sourceId]);
}, 60_000);

afterAll(async () => {
  await server?.close();
  await db?.close();
});

describe("bad input to every API route", () => {
  it("has a fixture for every operation the document lists, and bounds every field and parameter", () => {
    const ops = operations().map((o) => o.op.operationId);
    expect(ops.filter((id) => !FIXTURES[id])).toEqual([]);
    const unbounded: string[] = [];
    for (const { op } of operations()) {
      const body = op.requestBody?.content["application/json"].schema;
      const fixture = FIXTURES[op.operationId] as Fixture;
      for (const leaf of body ? leaves(body, fixture.body?.()) : []) {
        const t = types(leaf.schema);
        const at = `${op.operationId} ${leaf.path.join(".")}`;
        if (t.includes("string") && leaf.schema.maxLength === undefined && !leaf.schema.enum && leaf.schema.const === undefined) unbounded.push(`${at}: text without maxLength`);
        if ((t.includes("number") || t.includes("integer")) && leaf.schema.maximum === undefined) unbounded.push(`${at}: number without maximum`);
        if (t.includes("array") && leaf.schema.maxItems === undefined) unbounded.push(`${at}: list without maxItems`);
      }
      for (const p of op.parameters ?? []) {
        if (p.in !== "query") continue;
        const t = types(p.schema);
        if (t.includes("string") && p.schema.maxLength === undefined && !p.schema.enum) unbounded.push(`${op.operationId} ?${p.name}: text without maxLength`);
        if (t.includes("integer") && p.schema.maximum === undefined) unbounded.push(`${op.operationId} ?${p.name}: number without maximum`);
      }
    }
    expect(unbounded).toEqual([]);
  });

  it("refuses every bad body property with 400, a listed code and a message naming the field, and changes nothing", async () => {
    const before = await snapshot();
    const problems: Problem[] = [];
    const cases: (() => Promise<void>)[] = [];
    for (const { method, path, op } of operations()) {
      const schema = op.requestBody?.content["application/json"].schema;
      if (!schema) continue;
      const fixture = FIXTURES[op.operationId] as Fixture;
      const base = fixture.body?.() as Json;
      const listed = new Set([...(op["x-error-codes"] ?? []), ...(doc["x-error-codes"] ?? [])]);
      for (const leaf of leaves(schema, base)) {
        for (const bad of badValues(leaf)) {
          cases.push(async () => {
            const r = await send({ method, path: urlOf(path, fixture), auth: fixture.auth?.(), body: JSON.stringify(withValue(base, leaf.path, bad.value)) });
            const code = String(r.body["code"]);
            const message = String(r.body["message"] ?? "");
            const what = `${leaf.path.join(".")} = ${bad.what}`;
            if (r.status !== 400) problems.push({ op: op.operationId, what, got: `${r.status} ${code} ${message.slice(0, 120)}` });
            else if (!listed.has(code)) problems.push({ op: op.operationId, what, got: `unlisted code ${code}` });
            else if (!message.includes(fieldName(leaf.path))) problems.push({ op: op.operationId, what, got: `message without "${fieldName(leaf.path)}": ${message.slice(0, 160)}` });
          });
        }
      }
    }
    // A few at a time: the client builds the next bodies while the server refuses the last ones.
    for (let i = 0; i < cases.length; i += 4) await Promise.all(cases.slice(i, i + 4).map((c) => c()));
    problems.sort((a, b) => `${a.op} ${a.what}`.localeCompare(`${b.op} ${b.what}`));
    expect(problems).toEqual([]);
    expect(cases.length).toBeGreaterThan(300);
    expect(work.calls).toEqual([]);
    expect(await snapshot()).toBe(before);
  }, 180_000);

  it("refuses bodies that are not JSON, not UTF-8, of another content type, too deep or too large, and changes nothing", async () => {
    await sweepChangingNothing(async (problems) => {
      for (const { method, path, op } of operations()) {
        if (method !== "POST") continue;
        const fixture = FIXTURES[op.operationId] as Fixture;
        const base = (fixture.body?.() ?? { x: "y" }) as Json;
        const hasBody = op.requestBody !== undefined;
        const cases: { what: string; sent: Partial<Sent>; status: number; code: string }[] = [
          { what: "truncated JSON", sent: { body: JSON.stringify(base).slice(0, -3) }, status: 400, code: "Api.InvalidJson" },
          { what: "single quotes", sent: { body: "{'a': 1}" }, status: 400, code: "Api.InvalidJson" },
          { what: "Latin-1 bytes", sent: { body: latin1Body(base) }, status: 400, code: "Api.InvalidEncoding" },
          { what: "UTF-16 with a byte order mark", sent: { body: utf16Body(base) }, status: 400, code: "Api.InvalidEncoding" },
          { what: "a UTF-16 charset", sent: { body: JSON.stringify(base), contentType: "application/json; charset=utf-16" }, status: 415, code: "Api.UnsupportedMediaType" },
          { what: "text/plain", sent: { body: JSON.stringify(base), contentType: "text/plain" }, status: 415, code: "Api.UnsupportedMediaType" },
          { what: "a form", sent: { body: "uses=5", contentType: "application/x-www-form-urlencoded" }, status: 415, code: "Api.UnsupportedMediaType" },
          { what: "no content type", sent: { body: JSON.stringify(base), contentType: null }, status: 415, code: "Api.UnsupportedMediaType" },
          { what: "100 000 nested lists", sent: { body: `${"[".repeat(100_000)}${"]".repeat(100_000)}` }, status: 400, code: "Api.InvalidBody" },
          { what: "5 MiB", sent: { body: JSON.stringify({ ...(base as object), pad: "x".repeat(5 * MiB) }) }, status: 413, code: "Api.BodyTooLarge" },
        ];
        if (hasBody) {
          for (const top of [[], "text", 42, true, null]) cases.push({ what: `${JSON.stringify(top)} for the body`, sent: { body: JSON.stringify(top) }, status: 400, code: "*" });
        }
        for (const c of cases) {
          const r = await send({ method, path: urlOf(path, fixture), auth: fixture.auth?.(), ...c.sent });
          const code = String(r.body["code"]);
          if (r.status !== c.status || (c.code !== "*" && code !== c.code) || typeof r.body["message"] !== "string") {
            problems.push({ op: op.operationId, what: c.what, got: `${r.status} ${code} ${String(r.body["message"] ?? JSON.stringify(r.body)).slice(0, 120)}` });
          }
        }
      }
    });
  }, 120_000);

  it("refuses every bad query parameter with 400 and a code, and changes nothing", async () => {
    await sweepChangingNothing(async (problems) => {
      for (const { method, path, op } of operations()) {
        const fixture = FIXTURES[op.operationId] as Fixture;
        const listed = new Set([...(op["x-error-codes"] ?? []), ...(doc["x-error-codes"] ?? [])]);
        for (const p of op.parameters ?? []) {
          if (p.in !== "query") continue;
          const s = p.schema;
          // Percent-encoded as sent: a NUL, bytes that are not UTF-8, and an encoded lone surrogate.
          const bad: string[] = ["", "%00", "caf%E9", "%ED%A0%80"];
          const plain: string[] = [];
          if (types(s).includes("integer")) {
            plain.push("abc", "1.5", "1e3", "0x10", " 5", "-1", "9".repeat(400));
            if (s.minimum !== undefined && s.minimum > 0) plain.push(String(s.minimum - 1));
            if (s.maximum !== undefined) plain.push(String(s.maximum + 1));
          } else {
            if (s.enum) plain.push("NotAValue", String(s.enum[0]).toLowerCase());
            plain.push("x".repeat((s.maxLength ?? 4096) + 1));
          }
          bad.push(...plain.map(encodeURIComponent));
          for (const value of bad) {
            const q = `?${p.name}=${value}`;
            const r = await send({ method, path: urlOf(path, fixture, q), auth: fixture.auth?.() });
            const code = String(r.body["code"]);
            if (r.status !== 400 || !listed.has(code) || !String(r.body["message"]).includes(p.name)) {
              problems.push({ op: op.operationId, what: `?${p.name}=${JSON.stringify(value.slice(0, 20))}`, got: `${r.status} ${code} ${String(r.body["message"]).slice(0, 120)}` });
            }
          }
          // Past Node's 16 KiB of URL and headers: refused before any route, still with a code.
          const long = await send({ method, path: urlOf(path, fixture, `?${p.name}=${"x".repeat(20_000)}`), auth: fixture.auth?.() });
          if (long.status !== 431 || long.body["code"] !== "Api.HeadersTooLarge") problems.push({ op: op.operationId, what: `?${p.name} of 20 000 characters`, got: `${long.status} ${String(long.body["code"])}` });
          // The same parameter twice is ambiguous: which one was meant?
          const twice = await send({ method, path: urlOf(path, fixture, `?${p.name}=1&${p.name}=2`), auth: fixture.auth?.() });
          if (twice.status !== 400 || twice.body["code"] !== "Api.InvalidParameter") problems.push({ op: op.operationId, what: `?${p.name} twice`, got: `${twice.status} ${String(twice.body["code"])}` });
        }
      }
    });
  }, 120_000);

  it("answers odd path parameters with a 4xx code and changes nothing", async () => {
    await sweepChangingNothing(async (problems) => {
      for (const { method, path, op } of operations()) {
        if (!path.includes("{")) continue;
        // Percent-encoded as sent ("." and ".." segments never arrive: clients resolve them in the URL).
        for (const value of ["%00", "caf%E9", "%ED%A0%80", "x".repeat(10_000), "..%2F..%2Fetc%2Fpasswd", "%25", "%20", "%"]) {
          const url = path.replace(/\{(\w+)\}/g, () => value);
          const fixture = FIXTURES[op.operationId] as Fixture;
          const r = await send({ method, path: url, auth: fixture.auth?.(), ...(op.requestBody ? { body: JSON.stringify(fixture.body?.() ?? {}) } : {}) });
          if (r.status < 400 || r.status >= 500 || typeof r.body["code"] !== "string") problems.push({ op: op.operationId, what: JSON.stringify(value.slice(0, 20)), got: `${r.status} ${JSON.stringify(r.body).slice(0, 120)}` });
        }
      }
    });
  }, 60_000);

  it("accepts each untouched body, so the refusals above were about the one bad value", async () => {
    for (const { method, path, op } of operations()) {
      const fixture = FIXTURES[op.operationId] as Fixture;
      if (!fixture.body) continue;
      const r = await send({ method, path: urlOf(path, fixture), auth: fixture.auth?.(), body: JSON.stringify(fixture.body()) });
      const [status, code] = fixture.accepted ?? [0];
      expect([op.operationId, r.status, r.status >= 400 ? r.body["code"] : undefined]).toEqual([op.operationId, status, code]);
    }
  }, 60_000);
});

// The HTTP API against embedded PGlite: every invalid parameter is refused
// with its status and code, and the OpenAPI document lists what answers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startInProcessServer } from "../../../test/helpers/api-server";
import type { Database } from "./db/database";
import { inventoryFixture } from "./db/db-suite";
import type { RunningServer } from "./server";

let db: Database;
let server: RunningServer;
let key: string;

async function call(method: string, path: string, opts: { body?: unknown; raw?: string; auth?: string | null } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  const auth = opts.auth === undefined ? key : opts.auth;
  if (auth !== null) headers["authorization"] = `Bearer ${auth}`;
  const res = await fetch(`${server.url}${path}`, { method, headers, body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

async function newCode(uses = 5): Promise<string> {
  const r = await call("POST", "/v1/activation-codes", { body: { uses } });
  return r.body["code"] as string;
}

async function register(code: string, name = "web-1") {
  return call("POST", "/v1/agents/register", { auth: null, body: { activationCode: code, name, agentVersion: "0.1.0", inventory: inventoryFixture(name) } });
}

beforeAll(async () => {
  ({ db, server } = await startInProcessServer({ heartbeatSeconds: 1, offlineAfterSeconds: 2, throttle: { freeFailures: 3, baseDelayMs: 300 } }));
  key = server.createdApiKey as string;
}, 60_000);
afterAll(async () => {
  await server?.close();
  await db?.close();
});

describe("API keys", () => {
  it("shows the admin key once, and refuses calls without the right key", async () => {
    expect(key).toMatch(/^hk_/);
    const missing = await call("GET", "/v1/sources", { auth: null });
    expect(missing).toMatchObject({ status: 401, body: { code: "Api.Unauthorized" } });
    const wrong = await call("GET", "/v1/sources", { auth: "hk_wrong" });
    expect(wrong).toMatchObject({ status: 401, body: { code: "Api.Unauthorized" } });
    expect((await call("GET", "/v1/sources")).status).toBe(200);
  });

  it("slows down an address after repeated failures", async () => {
    for (let i = 0; i < 4; i++) await call("GET", "/v1/activation-codes", { auth: "hk_guess" });
    const t0 = Date.now();
    const slowed = await call("GET", "/v1/activation-codes", { auth: "hk_guess" });
    expect(slowed.status).toBe(401);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    // A success clears the count, so the next answer is quick again.
    await call("GET", "/v1/activation-codes");
    const t1 = Date.now();
    await call("GET", "/v1/activation-codes");
    expect(Date.now() - t1).toBeLessThan(250);
  });
});

describe("POST /v1/activation-codes", () => {
  it("defaults to 200 uses and 90 days, and returns the one-line install command", async () => {
    const r = await call("POST", "/v1/activation-codes", { body: { description: "rack 4" } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ uses: 200, usesLeft: 200, description: "rack 4", expired: false });
    const days = (new Date(r.body["expiresAt"] as string).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(89.9);
    expect(days).toBeLessThan(90.1);
    const command = r.body["command"] as string;
    expect(command).toContain(`${server.url}/v1/downloads/hoist.mjs`);
    expect(command).toContain(`agent --activation-code ${r.body["code"]} --server ${server.url}`);
  });

  const invalid: [string, unknown, string][] = [
    ["uses 0", { uses: 0 }, "ActivationCode.InvalidUses"],
    ["uses 1001", { uses: 1001 }, "ActivationCode.InvalidUses"],
    ["uses 2.5", { uses: 2.5 }, "ActivationCode.InvalidUses"],
    ["uses as text", { uses: "5" }, "ActivationCode.InvalidUses"],
    ["uses null", { uses: null }, "ActivationCode.InvalidUses"],
    ["validityDays 0", { validityDays: 0 }, "ActivationCode.InvalidValidity"],
    ["validityDays 91", { validityDays: 91 }, "ActivationCode.InvalidValidity"],
    ["validityDays 1.5", { validityDays: 1.5 }, "ActivationCode.InvalidValidity"],
    ["validityDays as text", { validityDays: "30" }, "ActivationCode.InvalidValidity"],
    ["description too long", { description: "x".repeat(257) }, "ActivationCode.InvalidDescription"],
    ["description not text", { description: 5 }, "ActivationCode.InvalidDescription"],
    ["unknown field", { count: 5 }, "Api.InvalidBody"],
    ["array body", [1], "Api.InvalidBody"],
  ];
  for (const [what, body, code] of invalid) {
    it(`refuses ${what} with 400 ${code}`, async () => {
      expect(await call("POST", "/v1/activation-codes", { body })).toMatchObject({ status: 400, body: { code, retryable: false } });
    });
  }

  it("accepts the range ends 1/1000 uses and 1/90 days", async () => {
    expect((await call("POST", "/v1/activation-codes", { body: { uses: 1, validityDays: 1 } })).status).toBe(201);
    expect((await call("POST", "/v1/activation-codes", { body: { uses: 1000, validityDays: 90 } })).status).toBe(201);
  });

  it("refuses a body that is not JSON", async () => {
    expect(await call("POST", "/v1/activation-codes", { raw: "{uses:" })).toMatchObject({ status: 400, body: { code: "Api.InvalidJson" } });
  });

  it("lists codes without their secrets", async () => {
    const code = await newCode(3);
    const r = await call("GET", "/v1/activation-codes");
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.body)).not.toContain(code);
    expect((r.body["codes"] as unknown[]).length).toBeGreaterThan(0);
  });
});

describe("agent import and heartbeat", () => {
  it("imports a source, then refuses the used-up, expired and unknown codes", async () => {
    const code = await newCode(1);
    const ok = await register(code, "app-1");
    expect(ok.status).toBe(201);
    expect(ok.body["sourceId"]).toMatch(/^s-/);
    expect(ok.body["agentToken"]).toMatch(/^hat_/);
    expect(ok.body["heartbeatSeconds"]).toBe(1);
    expect(await register(code, "app-2")).toMatchObject({ status: 403, body: { code: "ActivationCode.UsedUp" } });
    const old = await call("POST", "/v1/activation-codes", { body: { uses: 5 } });
    await db.query("update activation_codes set expires_at = now() - interval '1 minute' where code_id = $1", [old.body["codeId"]]);
    expect(await register(old.body["code"] as string)).toMatchObject({ status: 403, body: { code: "ActivationCode.Expired" } });
    expect(await register("hac_unknown")).toMatchObject({ status: 401, body: { code: "ActivationCode.Invalid" } });
  });

  it("refuses a registration without an inventory or with unknown fields", async () => {
    const code = await newCode();
    expect(await call("POST", "/v1/agents/register", { auth: null, body: { activationCode: code } })).toMatchObject({ status: 400, body: { code: "Api.InvalidBody" } });
    expect(await call("POST", "/v1/agents/register", { auth: null, body: { activationCode: code, inventory: inventoryFixture(), extra: 1 } })).toMatchObject({ status: 400, body: { code: "Api.InvalidBody" } });
    expect(await call("POST", "/v1/agents/register", { auth: null, body: { activationCode: "", inventory: inventoryFixture() } })).toMatchObject({ status: 400, body: { code: "Api.InvalidBody" } });
  });

  it("heartbeats need the agent's own token; an API key is not one", async () => {
    const reg = await register(await newCode(), "hb-1");
    const token = reg.body["agentToken"] as string;
    expect(await call("POST", "/v1/agents/heartbeat", { auth: token, body: {} })).toMatchObject({ status: 200, body: { sourceId: reg.body["sourceId"], state: "Available" } });
    expect(await call("POST", "/v1/agents/heartbeat", { auth: key, body: {} })).toMatchObject({ status: 401, body: { code: "Agent.Unauthorized" } });
    expect(await call("POST", "/v1/agents/heartbeat", { auth: null, body: {} })).toMatchObject({ status: 401, body: { code: "Agent.Unauthorized" } });
    expect(await call("POST", "/v1/agents/heartbeat", { auth: token, body: { agentVersion: 7 } })).toMatchObject({ status: 400, body: { code: "Api.InvalidBody" } });
  });

  it("a silent source goes offline with SourceServer.Offline and comes back on its next heartbeat", async () => {
    const reg = await register(await newCode(), "quiet-1");
    const id = reg.body["sourceId"] as string;
    await db.query("update sources set last_heartbeat_at = now() - interval '1 hour' where source_id = $1", [id]);
    expect(await call("GET", `/v1/sources/${id}`)).toMatchObject({ status: 200, body: { state: "Unavailable", errorCode: "SourceServer.Offline" } });
    await call("POST", "/v1/agents/heartbeat", { auth: reg.body["agentToken"] as string, body: {} });
    expect(await call("GET", `/v1/sources/${id}`)).toMatchObject({ status: 200, body: { state: "Available", errorCode: null } });
  });
});

describe("sources", () => {
  it("lists, filters, shows and deletes sources; the deleted source's agent is refused", async () => {
    const code = await newCode(10);
    const a = await register(code, "filter-alpha");
    await register(code, "filter-beta");
    const list = await call("GET", "/v1/sources?name=FILTER-&state=Available");
    expect((list.body["sources"] as { name: string }[]).map((s) => s.name).sort()).toEqual(["filter-alpha", "filter-beta"]);
    const id = a.body["sourceId"] as string;
    const shown = await call("GET", `/v1/sources/${id}`);
    expect(shown.body).toMatchObject({ sourceId: id, name: "filter-alpha", os: "Debian GNU/Linux 12 (bookworm)", inventory: { hostname: "filter-alpha" } });
    expect(await call("DELETE", `/v1/sources/${id}`)).toMatchObject({ status: 202, body: { sourceId: id, state: "Deleting" } });
    expect(await call("GET", `/v1/sources/${id}`)).toMatchObject({ status: 404, body: { code: "SourceServer.NotFound" } });
    expect(await call("DELETE", `/v1/sources/${id}`)).toMatchObject({ status: 404, body: { code: "SourceServer.NotFound" } });
    expect(await call("POST", "/v1/agents/heartbeat", { auth: a.body["agentToken"] as string, body: {} })).toMatchObject({ status: 401, body: { code: "Agent.Unauthorized" } });
  });

  it("refuses to delete a source in use", async () => {
    const reg = await register(await newCode(), "busy-1");
    await db.query("update sources set state = 'InUse' where source_id = $1", [reg.body["sourceId"]]);
    expect(await call("DELETE", `/v1/sources/${reg.body["sourceId"]}`)).toMatchObject({ status: 400, body: { code: "SourceServerState.Invalid" } });
  });

  const badFilters: [string, string][] = [
    ["state=Running", "SourceServer.InvalidStateFilter"],
    ["state=", "SourceServer.InvalidStateFilter"],
    [`name=${"n".repeat(129)}`, "SourceServer.InvalidNameFilter"],
    ["name=", "SourceServer.InvalidNameFilter"],
    ["limit=0", "Api.InvalidParameter"],
    ["limit=1001", "Api.InvalidParameter"],
    ["limit=ten", "Api.InvalidParameter"],
    ["offset=-1", "Api.InvalidParameter"],
    ["offset=1.5", "Api.InvalidParameter"],
  ];
  for (const [query, code] of badFilters) {
    it(`refuses ?${query.slice(0, 20)} with 400 ${code}`, async () => {
      expect(await call("GET", `/v1/sources?${query}`)).toMatchObject({ status: 400, body: { code } });
    });
  }
});

describe("routing and the OpenAPI document", () => {
  it("answers unknown paths with 404 and wrong methods with 405", async () => {
    expect(await call("GET", "/v1/nothing")).toMatchObject({ status: 404, body: { code: "Api.NotFound" } });
    expect(await call("PUT", "/v1/sources")).toMatchObject({ status: 405, body: { code: "Api.MethodNotAllowed" } });
  });

  it("lists exactly the endpoints that answer, and each of them answers", async () => {
    const res = await fetch(`${server.url}/v1/openapi.json`);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { operationId: string }>> };
    expect(doc.openapi).toBe("3.1.0");
    const ops = Object.entries(doc.paths).flatMap(([p, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${p}`));
    expect(ops.sort()).toEqual(
      [
        "GET /v1/activation-codes",
        "POST /v1/activation-codes",
        "POST /v1/agents/register",
        "POST /v1/agents/heartbeat",
        "GET /v1/sources",
        "GET /v1/sources/{sourceId}",
        "DELETE /v1/sources/{sourceId}",
        "GET /v1/downloads/hoist.mjs",
        "GET /v1/openapi.json",
        "POST /v1/agents/tasks/{taskId}/progress",
        "POST /v1/agents/tasks/{taskId}/result",
        "POST /v1/jobs",
        "GET /v1/jobs",
        "GET /v1/jobs/{jobId}",
        "DELETE /v1/jobs/{jobId}",
        "POST /v1/jobs/{jobId}/start",
        "POST /v1/jobs/{jobId}/stop",
        "POST /v1/jobs/{jobId}/retry",
        "POST /v1/jobs/{jobId}/cancel",
        "POST /v1/jobs/{jobId}/modify",
        "GET /v1/images",
        "GET /v1/sources/{sourceId}/jobs",
        "GET /v1/images/{imageName}",
        "DELETE /v1/images/{imageName}",
        "POST /v1/images/{imageName}/check",
        "GET /v1/events",
      ].sort(),
    );
    for (const op of ops) {
      const [method, path] = op.split(" ") as [string, string];
      const r = await fetch(`${server.url}${path.replace("{sourceId}", "s-none").replace("{jobId}", "j-none").replace("{taskId}", "t-none").replace("{imageName}", "i-none")}`, { method, headers: { authorization: `Bearer ${key}` } });
      const body = r.headers.get("content-type")?.includes("json") ? ((await r.json()) as { code?: string }) : {};
      expect([op, body.code]).not.toEqual([op, "Api.NotFound"]);
      expect(r.status, op).not.toBe(405);
      if (!r.bodyUsed) await r.body?.cancel();
    }
  });
});

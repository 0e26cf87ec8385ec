// Hostile input to the API: SQL-looking and odd text in every list filter and
// path parameter is answered with data or a 4xx code and changes nothing; and
// the secrets a server hands out (API key, activation code, agent token) are
// in neither its log nor the database's plain columns.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "@hoist/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startInProcessServer } from "../../../test/helpers/api-server";
import type { Database } from "./db/database";
import { inventoryFixture } from "./db/db-suite";
import type { RunningServer } from "./server";

const dir = mkdtempSync(join(tmpdir(), "hoist-hostile-"));
const logFile = join(dir, "server.log");
let db: Database;
let server: RunningServer;
let key: string;
const handedOut: string[] = [];

async function call(method: string, path: string, body?: unknown, auth: string | null = key): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (auth !== null) headers["authorization"] = `Bearer ${auth}`;
  const res = await fetch(`${server.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

async function tableCounts(): Promise<Record<string, number>> {
  const tables = await db.query<{ table_name: string }>("select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1");
  const out: Record<string, number> = {};
  for (const t of tables) out[t.table_name] = Number((await db.query<{ n: string }>(`select count(*)::text as n from "${t.table_name}"`))[0]?.n);
  return out;
}

const PAYLOADS = ["' OR '1'='1", "x'; DROP TABLE sources; --", "%", "_", "\\", "1; delete from replication_jobs", "Available' OR 1=1 --", "\u0000", "😀 ünïcode", "%27%20OR%201=1", "a".repeat(5000)];

beforeAll(async () => {
  ({ db, server } = await startInProcessServer({ logger: createLogger({ file: logFile, console: null }), heartbeatSeconds: 1, offlineAfterSeconds: 60 }));
  key = server.createdApiKey as string;
  handedOut.push(key);
  const code = (await call("POST", "/v1/activation-codes", { uses: 5 })).body["code"] as string;
  handedOut.push(code);
  for (const name of ["web-1", "db-1"]) {
    const r = await call("POST", "/v1/agents/register", { activationCode: code, name, agentVersion: "0.1.0", inventory: inventoryFixture(name) }, null);
    expect(r.status).toBe(201);
    handedOut.push(r.body["agentToken"] as string);
  }
}, 60_000);

afterAll(async () => {
  await server?.close();
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("hostile input", () => {
  it("SQL-looking and odd text in every list filter and path parameter is answered sanely and changes nothing", async () => {
    const before = await tableCounts();
    const paths = (p: string) => [
      `/v1/sources?name=${p}`,
      `/v1/sources?state=${p}`,
      `/v1/sources?limit=${p}`,
      `/v1/sources?offset=${p}`,
      `/v1/jobs?status=${p}`,
      `/v1/jobs?name=${p}`,
      `/v1/jobs?sourceId=${p}`,
      `/v1/jobs?limit=${p}`,
      `/v1/images?jobId=${p}`,
      `/v1/activation-codes?limit=${p}`,
      `/v1/sources/${p}`,
      `/v1/jobs/${p}`,
      `/v1/images/${p}`,
      `/v1/images/x?regionId=${p}`,
    ];
    const unsane: string[] = [];
    for (const payload of PAYLOADS) {
      for (const path of paths(encodeURIComponent(payload))) {
        const r = await call("GET", path);
        const ok = r.status === 200 || (r.status >= 400 && r.status < 500 && typeof r.body["code"] === "string");
        if (!ok) unsane.push(`${path.slice(0, 80)} → ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
        // A name filter is taken literally: no injected condition widens the match.
        if (r.status === 200 && /name=/.test(path) && payload !== "%" && payload !== "_") {
          expect(r.body["total"], path).toBe(0);
        }
      }
    }
    expect(unsane).toEqual([]);
    expect(await tableCounts()).toEqual(before);
    expect((await call("GET", "/v1/sources")).body["total"]).toBe(2);
  });

  it("keeps the secrets it handed out out of its log and out of the database's plain columns", async () => {
    // A few failed calls with a secret-looking key and one with a real agent token on the wrong route.
    await call("GET", "/v1/sources", undefined, "hk_not_the_key");
    await call("GET", "/v1/sources", undefined, handedOut[2]!);
    const log = readFileSync(logFile, "utf8");
    expect(log.length).toBeGreaterThan(0);
    const tables = await db.query<{ table_name: string }>("select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'");
    let dump = "";
    for (const t of tables) dump += (await db.query<{ j: string }>(`select row_to_json(x)::text as j from "${t.table_name}" x`)).map((r) => r.j).join("\n");
    expect(dump.length).toBeGreaterThan(0);
    for (const secret of handedOut) {
      expect(secret.length).toBeGreaterThan(10);
      expect(log).not.toContain(secret);
      expect(dump).not.toContain(secret);
    }
  });
});

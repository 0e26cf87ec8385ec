// Two `hoist server` replicas started at the same moment on one real
// PostgreSQL (DATABASE_URL): the schema is migrated once, one admin key is
// created, and a source imported through one replica is seen by the other.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { MIGRATIONS } from "@hoist/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { hoist, importedSourceId, type Spawned, spawnHoist, type StartedServer, startHoistServer, stop } from "../helpers/server-cli";

let work: string;
let postgres: TestPostgres;
const servers: StartedServer[] = [];
let agent: Spawned | undefined;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "hoist-e2e-server-pg-"));
  postgres = await startPostgres();
}, 300_000);

afterAll(async () => {
  await stop(agent, "SIGKILL");
  for (const s of servers) await stop(s);
  await postgres?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("two hoist server replicas on one PostgreSQL", () => {
  it("start together: one migration, one admin key, one shared state", async () => {
    const env = { DATABASE_URL: postgres.url, HOIST_API_KEY: "" };
    const started = await Promise.all([
      startHoistServer(["--data-dir", join(work, "unused-a"), "--heartbeat-seconds", "1"], env),
      startHoistServer(["--data-dir", join(work, "unused-b"), "--heartbeat-seconds", "1"], env),
    ]);
    servers.push(...started);
    const [a, b] = started as [StartedServer, StartedServer];
    for (const s of started) expect(s.lines.find((l) => l.includes('"event":"ready"'))).toContain('"database":"postgres"');
    const keys = started.flatMap((s) => (s.apiKey ? [s.apiKey] : []));
    expect(keys).toHaveLength(1);
    const key = keys[0] as string;

    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    try {
      // Each migration applied once although both replicas ran them at the same moment.
      const migrations = await client.query("select version from schema_migrations order by version");
      expect(migrations.rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
      expect((await client.query("select count(*)::int as n from api_keys")).rows[0]).toEqual({ n: 1 });
    } finally {
      await client.end();
    }

    const root = join(work, "source");
    mkdirSync(join(root, "etc"), { recursive: true });
    writeFileSync(join(root, "etc/os-release"), 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n');
    const code = JSON.parse((await hoist(["codes", "create", "--uses", "1", "--json", "--server", a.url, "--api-key", key])).stdout) as { code: string };
    agent = spawnHoist(["agent", "--activation-code", code.code, "--server", a.url, "--source-root", root, "--state-dir", join(work, "agent")]);
    const id = await importedSourceId(agent);
    const onB = await hoist(["sources", "list", "--json", "--server", b.url, "--api-key", key]);
    expect(onB.code, onB.stderr).toBe(0);
    expect((JSON.parse(onB.stdout) as { sources: { sourceId: string; state: string }[] }).sources).toEqual([expect.objectContaining({ sourceId: id, state: "Available" })]);
  });
});

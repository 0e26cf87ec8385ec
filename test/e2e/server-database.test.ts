// Where `hoist server` keeps its state, as a user starts it: a DATABASE_URL
// that is not a PostgreSQL URL is refused before any connection, without
// showing its password; an embedded database folder serves one server at a
// time, and is taken over with its data after that server was SIGKILLed.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hoist, type StartedServer, startHoistServer, stop } from "../helpers/server-cli";

const PASSWORD = "pw-Never-Shown-42";
let work: string;
const servers: StartedServer[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "hoist-e2e-server-db-"));
}, 300_000);

afterAll(async () => {
  for (const s of servers) await stop(s, "SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

const serve = (dataDir: string, env: NodeJS.ProcessEnv = {}) => hoist(["server", "--port", "0", "--listen", "127.0.0.1", "--data-dir", dataDir], { HOIST_API_KEY: "", ...env });

describe("hoist server's database", () => {
  it("refuses a DATABASE_URL that is not a postgres:// URL with a host, and never shows its password", async () => {
    const problems: string[] = [];
    for (const url of ["notaurl", `mysql://hoist:${PASSWORD}@127.0.0.1/hoist`, `postgres://hoist:${PASSWORD}@[::1/hoist`, `postgresql://hoist:${PASSWORD}@/hoist`, "postgres://db.example.com/a\u0001b"]) {
      const r = await serve(join(work, "unused"), { DATABASE_URL: url });
      if (r.code === 0 || !r.stderr.includes("Error Config.InvalidDatabaseUrl:") || !r.stderr.includes("DATABASE_URL")) problems.push(`${JSON.stringify(url)}: ${r.code} ${r.stderr.slice(0, 200)}`);
      if (r.stderr.includes(PASSWORD)) problems.push(`${JSON.stringify(url)}: the password is in the message`);
    }
    // A PostgreSQL URL nobody answers at is tried, and fails as unreachable, still without the password.
    const unreachable = await serve(join(work, "unused"), { DATABASE_URL: `postgres://hoist:${PASSWORD}@127.0.0.1:1/hoist` });
    expect(unreachable.code).not.toBe(0);
    expect(unreachable.stderr).toContain("Error Database.Unavailable:");
    expect(unreachable.stderr).not.toContain(PASSWORD);
    expect(problems).toEqual([]);
  }, 120_000);

  it("serves one process per embedded database folder, and a SIGKILLed server's folder is taken over with its data", async () => {
    const dataDir = join(work, "server");
    const first = await startHoistServer(["--data-dir", dataDir], { HOIST_API_KEY: "" });
    servers.push(first);
    const key = first.apiKey as string;
    expect(key).toMatch(/^hk_/);
    const code = JSON.parse((await hoist(["codes", "create", "--uses", "3", "--json", "--server", first.url, "--api-key", key])).stdout) as { codeId: string };

    const second = await serve(dataDir);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain(`Error Database.InUse: the embedded database in ${join(dataDir, "pgdata")} is in use by another process (pid ${first.child.pid})`);
    // The refused server changed nothing: the first still answers with its data.
    const listed = await hoist(["codes", "list", "--json", "--server", first.url, "--api-key", key]);
    expect(listed.stdout).toContain(code.codeId);

    await stop(first, "SIGKILL");
    expect(readFileSync(join(dataDir, "pgdata.lock"), "utf8").split(" ")[0]).toBe(String(first.child.pid));
    const third = await startHoistServer(["--data-dir", dataDir], { HOIST_API_KEY: "" });
    servers.push(third);
    expect(third.apiKey).toBeUndefined();
    expect(readFileSync(join(dataDir, "pgdata.lock"), "utf8").split(" ")[0]).toBe(String(third.child.pid));
    const after = await hoist(["codes", "list", "--json", "--server", third.url, "--api-key", key]);
    expect(after.code).toBe(0);
    expect(after.stdout).toContain(code.codeId);
    await stop(third);
    expect(() => readFileSync(join(dataDir, "pgdata.lock"))).toThrow(/ENOENT/);
  }, 240_000);
});

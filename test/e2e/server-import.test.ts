// The control plane as an operator uses it: start the built `hoist server`
// (embedded database in a temp folder), create an activation code, import a
// source with `hoist agent`, watch it in `hoist sources list`, lose it when
// the agent dies, and see used-up codes refused.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hoist, importedSourceId, type Spawned, spawnHoist, type StartedServer, startHoistServer, stop, until } from "../helpers/server-cli";

interface Listed {
  total: number;
  sources: { sourceId: string; name: string; state: string; errorCode: string | null; os: string | null }[];
}

let work: string;
let root: string;
let server: StartedServer | undefined;
const agents: Spawned[] = [];
let env: NodeJS.ProcessEnv;

async function listSources(): Promise<Listed> {
  const r = await hoist(["sources", "list", "--json"], env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Listed;
}

async function createCode(uses: number): Promise<{ code: string; codeId: string; command: string }> {
  const r = await hoist(["codes", "create", "--uses", String(uses), "--validity-days", "1", "--json"], env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

function agent(args: string[]): Spawned {
  const a = spawnHoist(["agent", "--server", server?.url as string, "--source-root", root, ...args]);
  agents.push(a);
  return a;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "hoist-e2e-server-"));
  root = join(work, "source");
  mkdirSync(join(root, "etc"), { recursive: true });
  writeFileSync(join(root, "etc/os-release"), 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n');
  writeFileSync(join(root, "etc/hostname"), "e2e-web-1\n");
  server = await startHoistServer(["--data-dir", join(work, "server"), "--heartbeat-seconds", "1", "--offline-after-seconds", "2"]);
  env = { HOIST_SERVER: server.url, HOIST_API_KEY: server.apiKey };
}, 300_000);

afterAll(async () => {
  for (const a of agents) await stop(a, "SIGKILL");
  await stop(server);
  rmSync(work, { recursive: true, force: true });
});

describe("hoist server with hoist agent", () => {
  let sourceId = "";
  let firstCode = "";
  let first: Spawned;

  it("prints an admin key once, refuses the API without it, and passes range errors through the CLI", async () => {
    expect(server?.apiKey).toMatch(/^hk_/);
    const r = await hoist(["sources", "list", "--json"], { ...env, HOIST_API_KEY: "hk_not-the-key" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Error Api.Unauthorized");
    const bad = await hoist(["codes", "create", "--uses", "1001"], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("Error ActivationCode.InvalidUses");
    const badDays = await hoist(["codes", "create", "--validity-days", "91"], env);
    expect(badDays.stderr).toContain("Error ActivationCode.InvalidValidity");
  });

  it("imports a source with an activation code and shows it Available", async () => {
    const code = await createCode(1);
    firstCode = code.code;
    expect(code.command).toContain(`${server?.url}/v1/downloads/hoist.mjs`);
    expect(code.command).toContain(`agent --activation-code ${code.code} --server ${server?.url}`);
    first = agent(["--activation-code", code.code, "--state-dir", join(work, "agent-1")]);
    const line = await first.waitFor(/^Import Source Server \[s-[0-9a-z]+\] Successfully!$/);
    sourceId = /\[(s-[0-9a-z]+)\]/.exec(line)?.[1] as string;
    const cred = join(work, "agent-1/agent.json");
    expect(statSync(cred).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(cred, "utf8"))).toMatchObject({ sourceId, server: server?.url });
    const listed = await listSources();
    expect(listed.sources).toEqual([expect.objectContaining({ sourceId, state: "Available", errorCode: null, os: "Debian GNU/Linux 12 (bookworm)" })]);
    const shown = await hoist(["sources", "show", sourceId, "--json"], env);
    expect(JSON.parse(shown.stdout)).toMatchObject({ sourceId, inventory: { sourceRoot: root, os: { id: "debian" } } });
  });

  it("lists the code with its use spent and without the secret", async () => {
    const codes = JSON.parse((await hoist(["codes", "list", "--json"], env)).stdout) as { usesLeft: number; code?: string }[];
    expect(codes[0]?.usesLeft).toBe(0);
    expect(JSON.stringify(codes)).not.toContain(firstCode);
    const again = await hoist(["codes", "list"], env);
    expect(again.stdout).toMatch(/0\/1/);
  });

  it("a second source with a used-up code is refused with ActivationCode.UsedUp", async () => {
    const code = await createCode(1);
    const ok = agent(["--activation-code", code.code, "--state-dir", join(work, "agent-2"), "--name", "second"]);
    await ok.waitFor(/Successfully!/);
    const refused = agent(["--activation-code", code.code, "--state-dir", join(work, "agent-3")]);
    expect(await refused.exited).toBe(1);
    expect(refused.stderr.join("\n")).toContain("Error ActivationCode.UsedUp");
    expect(refused.lines.join("\n")).not.toContain("Successfully");
    await stop(ok);
    expect((await listSources()).total).toBe(2);
  });

  it("a killed agent goes offline with SourceServer.Offline; restarted, it is the same source again", async () => {
    await stop(first, "SIGKILL");
    const offline = await until("the source to go offline", async () => {
      const s = (await listSources()).sources.find((x) => x.sourceId === sourceId);
      return s?.errorCode === "SourceServer.Offline" ? s : undefined;
    });
    expect(offline.state).toBe("Unavailable");
    const text = await hoist(["sources", "list", "--state", "Unavailable"], env);
    expect(text.stdout).toMatch(new RegExp(`${sourceId}.*Unavailable.*SourceServer\\.Offline`));
    // The source changed while its agent was down; the resumed agent reports it.
    writeFileSync(join(root, "etc/os-release"), 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (upgraded)"\n');
    // No activation code this time: the stored credential brings back the same source.
    const back = agent(["--state-dir", join(work, "agent-1")]);
    const revived = await until("the source to come back", async () => {
      const s = (await listSources()).sources.find((x) => x.sourceId === sourceId);
      return s?.state === "Available" && s.errorCode === null ? s : undefined;
    });
    expect(revived.os).toBe("Debian GNU/Linux 12 (upgraded)");
    expect(back.lines.join("\n")).not.toContain("Successfully");
    const aborted = await hoist(["agent", "--abort", "--state-dir", join(work, "agent-1")]);
    expect(aborted.code, aborted.stderr).toBe(0);
    expect(await back.exited).toBe(0);
  });

  it("deleting a source stops its agent", async () => {
    const code = await createCode(1);
    const doomed = agent(["--activation-code", code.code, "--state-dir", join(work, "agent-4"), "--name", "doomed"]);
    const id = await importedSourceId(doomed);
    const rm = await hoist(["sources", "rm", id], env);
    expect(rm.code, rm.stderr).toBe(0);
    expect(await doomed.exited).toBe(1);
    expect(doomed.stderr.join("\n")).toContain("Error Agent.Revoked");
    const show = await hoist(["sources", "show", id], env);
    expect(show.stderr).toContain("Error SourceServer.NotFound");
  });

  it("serves the CLI bundle that the install command fetches", async () => {
    const res = await fetch(`${server?.url}/v1/downloads/hoist.mjs`);
    expect(res.status).toBe(200);
    const served = Buffer.from(await res.arrayBuffer());
    expect(served.equals(readFileSync(join(import.meta.dirname, "../../apps/hoist/dist/hoist.mjs")))).toBe(true);
  });

  it("keeps its state across a restart and does not print a new key", async () => {
    await stop(server);
    server = await startHoistServer(["--data-dir", join(work, "server"), "--heartbeat-seconds", "1", "--offline-after-seconds", "2"]);
    expect(server.apiKey).toBeUndefined();
    env = { HOIST_SERVER: server.url, HOIST_API_KEY: env["HOIST_API_KEY"] };
    const listed = await listSources();
    expect(listed.sources.map((s) => s.sourceId)).toContain(sourceId);
  });
});

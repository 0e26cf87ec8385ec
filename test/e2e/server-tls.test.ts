// `hoist server --tls-cert/--tls-key` serves HTTPS; the CLI and the agent
// reach it when they trust the certificate, and are refused when they do not.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hoist, type Spawned, spawnHoist, type StartedServer, startHoistServer, stop } from "../helpers/server-cli";

let work: string;
let server: StartedServer | undefined;
let agent: Spawned | undefined;
let cert: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "hoist-e2e-server-tls-"));
  cert = join(work, "cert.pem");
  const key = join(work, "key.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=hoist-test", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
  server = await startHoistServer(["--data-dir", join(work, "server"), "--tls-cert", cert, "--tls-key", key, "--heartbeat-seconds", "1"]);
}, 300_000);

afterAll(async () => {
  await stop(agent, "SIGKILL");
  await stop(server);
  rmSync(work, { recursive: true, force: true });
});

describe("hoist server over TLS", () => {
  it("serves HTTPS: trusted clients import a source, untrusted ones are refused", async () => {
    expect(server?.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const env = { HOIST_SERVER: server?.url, HOIST_API_KEY: server?.apiKey, NODE_EXTRA_CA_CERTS: cert };
    const untrusted = await hoist(["codes", "list"], { ...env, NODE_EXTRA_CA_CERTS: "" });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toContain("Error Server.Unreachable");
    const created = await hoist(["codes", "create", "--uses", "1", "--json"], env);
    expect(created.code, created.stderr).toBe(0);
    const code = (JSON.parse(created.stdout) as { code: string; command: string }).code;
    const root = join(work, "source");
    mkdirSync(join(root, "etc"), { recursive: true });
    writeFileSync(join(root, "etc/os-release"), 'ID=debian\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n');
    agent = spawnHoist(["agent", "--activation-code", code, "--server", server?.url as string, "--source-root", root, "--state-dir", join(work, "agent")], { NODE_EXTRA_CA_CERTS: cert });
    await agent.waitFor(/^Import Source Server \[s-[0-9a-z]+\] Successfully!$/);
    const listed = JSON.parse((await hoist(["sources", "list", "--json"], env)).stdout) as { total: number };
    expect(listed.total).toBe(1);
  });
});

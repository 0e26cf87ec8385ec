// rsync sends SIGUSR1 to its remote shell when it gives up on a copy. Node's
// default answer to that signal is to open its debugger on 127.0.0.1:9229; on a
// source server that would let any local user run code as the agent and read
// the job token. The tunnel (both entry points) must end instead, and say nothing.
import { spawn } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const DIST = join(ROOT, "apps/hoist/dist");

let server: Server;
let port = 0;
const held: Socket[] = [];
const arrivals: (() => void)[] = [];

beforeAll(async () => {
  // Accepts the tunnel's TCP connection and never answers its TLS hello, so the tunnel waits.
  server = createServer((s) => {
    held.push(s);
    s.on("error", () => {});
    arrivals.shift()?.();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as { port: number }).port;
});

afterAll(() => {
  for (const s of held) s.destroy();
  server.close();
});

async function signalledTunnel(args: string[]): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  const env = { ...process.env, HOIST_TUNNEL: JSON.stringify({ host: "127.0.0.1", port, fingerprint: "AA:BB", jobId: "j-0123456789abcdef", token: "t".repeat(32) }) };
  const connected = new Promise<void>((r) => arrivals.push(r));
  const child = spawn(process.execPath, [...args, "-l", "hoist", "receiver", "rsync", "--server", "--daemon", "."], { env, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.on("close", (code, signal) => r({ code, signal })));
  await connected;
  child.kill("SIGUSR1");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  const result = await exited;
  clearTimeout(timer);
  return { ...result, stderr };
}

describe("the rsync tunnel and SIGUSR1", () => {
  it("the small tunnel bundle ends at once and opens no debugger", async () => {
    const r = await signalledTunnel([join(DIST, "tunnel.mjs")]);
    expect(r).toMatchObject({ code: 1, signal: null });
    expect(r.stderr).not.toMatch(/Debugger|inspector/i);
  });

  it("`hoist tunnel` from the full CLI does the same", async () => {
    const r = await signalledTunnel([join(DIST, "hoist.mjs"), "tunnel"]);
    expect(r).toMatchObject({ code: 1, signal: null });
    expect(r.stderr).not.toMatch(/Debugger|inspector/i);
  });
});

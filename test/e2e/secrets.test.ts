// Secrets stay where they belong. One real flow on `hoist server` (HTTPS, debug
// logging everywhere): an admin API key, an activation code, an imported
// `hoist agent`, and a replication job copied through its intermediate
// instance (a receiver with its own admin token, TLS key and a per-job token
// the agent gets with its task). Then every secret of that flow is looked for
// in everything the processes left: their output, the receiver's log, the
// agent's state folder, every row of the database (and its raw files), and the
// output of crashes made on purpose. Stored hashes are fine; the secret
// itself, or any 12-character piece of it, is not.
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { openPglite } from "@hoist/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAlibabaContractFake } from "../helpers/alibaba-contract-fake";
import { buildIfStale } from "../helpers/build";
import { releaseEverythingUnder } from "../helpers/cleanup";
import { hoist, importedSourceId, type Spawned, spawnHoist, startAgent, type StartedServer, startHoistServer, stop, until } from "../helpers/server-cli";
import { debianUserConfig } from "../helpers/user-config";

const base = mkdtempSync("/var/tmp/hoist-secrets-");
const home = join(base, "home");
const source = join(base, "source");
const agentState = join(base, "agent");
const dataDir = join(base, "server");
const cert = join(base, "server-cert.pem");
const key = join(base, "server-key.pem");
const providerEnv = { HOIST_HOME: home, HOIST_IMAGE_STORE: join(base, "images"), NODE_EXTRA_CA_CERTS: cert };

let server: StartedServer | undefined;
let agent: Spawned | undefined;
/** Every secret of the flow, by what it is. */
const secrets = new Map<string, string>();

function api<T>(method: string, path: string, body?: unknown, token = secrets.get("admin API key")): Promise<{ status: number; body: T }> {
  const url = new URL(path, server?.url);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, ca: readFileSync(cert), headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, timeout: 30_000 },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => {
          text += c.toString("utf8");
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : {}) as T }));
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.end(payload);
  });
}

/** The body of a PEM private key, without its header and footer lines. */
function pemBody(file: string): string {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l && !l.startsWith("-----"))
    .join("");
}

/** Every 12-character piece of `secret` (a secret cut short still leaks). */
function pieces(secret: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 12 <= secret.length; i += 4) out.push(secret.slice(i, i + 12));
  out.push(secret.slice(-12));
  return out;
}

/** Names of the secrets found in `text`, whole or in part; a PEM body also as a file shows it, in lines. */
function leaksIn(text: string, only?: readonly string[]): string[] {
  const flat = text.replace(/\r?\n/g, "");
  return [...secrets].filter(([name, value]) => (!only || only.includes(name)) && pieces(value).some((p) => text.includes(p) || flat.includes(p))).map(([name]) => name);
}

/** For large binary files (the database's own): the start, middle and end of each secret. */
function leaksInRaw(bytes: string): string[] {
  return [...secrets]
    .filter(([, v]) => [v.slice(0, 12), v.slice(v.length / 2 - 6, v.length / 2 + 6), v.slice(-12)].some((p) => bytes.includes(p)))
    .map(([name]) => name);
}

/** Regular files in `dir`, below it too when `deep`. */
function filesUnder(dir: string, deep = true): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: deep, encoding: "utf8" })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

/** Stops a process and waits, with SIGKILL if it is still there after 20 s. */
async function stopWithin(p: Spawned | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!p) return;
  const hard = setTimeout(() => p.child.kill("SIGKILL"), 20_000);
  try {
    await stop(p, signal);
  } finally {
    clearTimeout(hard);
  }
}

/** The agent's receiver tokens, read from the environment of the tunnels its rsyncs run while it copies. */
function tunnelTokens(receiverJobIds: ReadonlySet<string>): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    let env: string;
    try {
      env = readFileSync(`/proc/${pid}/environ`, "latin1");
    } catch {
      continue;
    }
    const entry = env.split("\0").find((e) => e.startsWith("HOIST_TUNNEL="));
    if (!entry) continue;
    const t = JSON.parse(entry.slice("HOIST_TUNNEL=".length)) as { jobId: string; token: string };
    if (receiverJobIds.has(t.jobId)) found.push(t.token);
  }
  return found;
}

const instanceDirs = (): string[] => (existsSync(join(home, "instances")) ? readdirSync(join(home, "instances")).map((i) => join(home, "instances", i)) : []);
const receiverJobIds = (): Set<string> => new Set(instanceDirs().flatMap((d) => (existsSync(join(d, "jobs")) ? readdirSync(join(d, "jobs")) : [])));

beforeAll(async () => {
  buildIfStale();
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=hoist-test", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
  // A small root tree that plans as a BIOS system; its data takes a few seconds at 1 Mbit/s.
  for (const d of ["etc", "usr/lib/grub/i386-pc", "srv/data"]) mkdirSync(join(source, d), { recursive: true });
  writeFileSync(join(source, "etc/os-release"), 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n');
  writeFileSync(join(source, "etc/hostname"), "secrets-1\n");
  for (let i = 0; i < 4; i++) writeFileSync(join(source, "srv/data", `blob-${i}.bin`), randomBytes(80 * 1024));
  server = await startHoistServer(["--data-dir", dataDir, "--tls-cert", cert, "--tls-key", key, "--heartbeat-seconds", "1", "--log-level", "debug"], providerEnv);
  secrets.set("admin API key", server.apiKey as string);
  secrets.set("server TLS key", pemBody(key));
}, 300_000);

afterAll(async () => {
  await stopWithin(agent, "SIGKILL");
  await stopWithin(server, "SIGKILL");
  releaseEverythingUnder(base, home);
});

describe("secrets of a real flow on hoist server", () => {
  it("imports a source and copies it in a job, with debug logs everywhere", async () => {
    const started = await startAgent(api, server?.url as string, source, agentState, { args: ["--log-level", "debug"], env: providerEnv });
    agent = started.agent;
    secrets.set("activation code", started.code);
    const sourceId = await importedSourceId(agent, 60_000);
    secrets.set("agent token", (JSON.parse(readFileSync(join(agentState, "agent.json"), "utf8")) as { agentToken: string }).agentToken);

    const created = await api<{ JobId: string }>("POST", "/v1/jobs", { SourceId: sourceId, Name: "secrets", ImageName: "secrets-img", SystemDiskSize: 20, VerifyImage: false, RateLimit: 1 });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const tokens = new Set<string>();
    // While the agent copies, its tunnels carry the job's receiver token: take it from their environment.
    const job = await until(
      "the job's copy to end",
      async () => {
        for (const t of tunnelTokens(receiverJobIds())) tokens.add(t);
        const j = (await api<{ Status: string; BusinessStatus: string | null; ErrorCode: string | null }>("GET", `/v1/jobs/${created.body.JobId}`)).body;
        return j.Status === "Finished" || j.Status === "InError" || j.BusinessStatus === "Processing" || j.BusinessStatus === "Cleaning" ? j : undefined;
      },
      60_000,
    );
    expect(job.BusinessStatus === "Syncing" && job.Status === "InError", JSON.stringify(job)).toBe(false);
    // The finished copy's report is on the job: nothing changed under it.
    const shown = await api<{ ChangedDuringCopy: unknown }>("GET", `/v1/jobs/${created.body.JobId}`);
    expect(shown.body.ChangedDuringCopy).toEqual({ Run: 1, Appeared: 0, Vanished: 0, Changed: 0, Disks: [{ Disk: "system", Appeared: 0, Vanished: 0, Changed: 0, Paths: [] }] });
    expect(tokens.size).toBeGreaterThan(0);
    // The receiver keeps only the SHA-256 of the token it handed out last: the one the agent used.
    const [instance] = instanceDirs();
    const [rjob] = [...receiverJobIds()];
    const stored = JSON.parse(readFileSync(join(instance as string, "jobs", rjob as string, "job.json"), "utf8")) as { tokenSha256: string };
    expect([...tokens].map((t) => createHash("sha256").update(t).digest("hex"))).toContain(stored.tokenSha256);
    for (const [i, t] of [...tokens].entries()) secrets.set(`receiver job token ${i + 1}`, t);
    secrets.set("receiver admin token", readFileSync(join(instance as string, "admin.token"), "utf8").trim());
    // The instance folder holds its state files at the top; the target disks sit below it.
    const receiverKey = filesUnder(instance as string, false).find((f) => readFileSync(f, "latin1").includes("PRIVATE KEY-----"));
    expect(receiverKey).toBeDefined();
    secrets.set("receiver TLS key", pemBody(receiverKey as string));
    for (const [name, value] of secrets) expect(value.length, name).toBeGreaterThanOrEqual(32);
  });

  it("none is in the server's, the agent's or the receiver's output and logs", () => {
    const handedOut = /^Admin API key \(shown once\): /;
    expect(server?.lines.filter((l) => handedOut.test(l))).toHaveLength(1);
    expect(leaksIn([...(server?.lines.filter((l) => !handedOut.test(l)) ?? []), ...(server?.stderr ?? [])].join("\n"))).toEqual([]);
    // The agent prints nothing of its own token or code; it knows no other secret of the control plane.
    expect(agent?.stderr.length).toBeGreaterThan(0);
    expect(leaksIn([...(agent?.lines ?? []), ...(agent?.stderr ?? [])].join("\n"))).toEqual([]);
    const logs = instanceDirs().flatMap((d) => filesUnder(d, false).filter((f) => f.endsWith(".log")));
    expect(logs.length).toBeGreaterThan(0);
    for (const f of logs) expect(leaksIn(readFileSync(f, "utf8")), f).toEqual([]);
  });

  it("the agent's state folder holds its own token, 0600, and nothing else secret", () => {
    const files = filesUnder(agentState);
    expect(files.map((f) => f.slice(agentState.length + 1))).toContain("agent.json");
    for (const f of files) {
      const text = readFileSync(f, "latin1");
      if (f.endsWith("/agent.json")) {
        expect(statSync(f).mode & 0o777).toBe(0o600);
        expect(leaksIn(text)).toEqual(["agent token"]);
      } else {
        expect(leaksIn(text), f).toEqual([]);
      }
    }
  });

  it("no row of the database holds one, nor do the database's files", async () => {
    await stopWithin(agent);
    await stopWithin(server);
    const db = await openPglite(join(dataDir, "pgdata"));
    let dump = "";
    try {
      const tables = await db.query<{ s: string; t: string }>(
        "select table_schema as s, table_name as t from information_schema.tables where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')",
      );
      expect(tables.map((t) => t.t)).toEqual(expect.arrayContaining(["api_keys", "activation_codes", "sources", "replication_jobs", "agent_tasks"]));
      for (const { s, t } of tables) {
        const rows = await db.query<{ row: string }>(`select x::text as row from "${s}"."${t}" x`);
        dump += `${s}.${t}\n${rows.map((r) => r.row).join("\n")}\n`;
      }
    } finally {
      await db.close();
    }
    // What the server keeps of the secrets it handed out: their hashes.
    expect(dump).toContain(createHash("sha256").update(secrets.get("agent token") as string).digest("hex").slice(0, 16));
    expect(leaksIn(dump)).toEqual([]);
    for (const f of filesUnder(join(dataDir, "pgdata"))) expect(leaksInRaw(readFileSync(f, "latin1")), f).toEqual([]);
  });

  it("crashes print none: a damaged agent credential, a server with a key that does not fit, an agent killed by SIGABRT", async () => {
    // A credential file damaged on disk: the parse error must not quote the token it holds.
    const damaged = join(base, "agent-damaged");
    mkdirSync(damaged, { mode: 0o700 });
    writeFileSync(join(damaged, "agent.json"), `${secrets.get("agent token")}\n`, { mode: 0o600 });
    const bad = await hoist(["agent", "--server", "https://127.0.0.1:9", "--source-root", source, "--state-dir", damaged, "--log-level", "debug"], providerEnv);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("Agent.CredentialUnreadable");
    expect(leaksIn(bad.stdout + bad.stderr)).toEqual([]);

    // A server that cannot be reached, with a fresh activation code on the command line.
    const code = `ac_${randomBytes(24).toString("hex")}`;
    secrets.set("unused activation code", code);
    const away = await hoist(["agent", "--server", "https://127.0.0.1:9", "--activation-code", code, "--source-root", source, "--state-dir", join(base, "agent-away"), "--log-level", "debug"], providerEnv);
    expect(away.code).toBe(1);
    expect(away.stderr).toContain("Server.Unreachable");
    expect(leaksIn(away.stdout + away.stderr)).toEqual([]);

    // The server with a TLS key that does not match its certificate dies with a stack trace.
    const otherKey = join(base, "other-key.pem");
    execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", otherKey], { stdio: "ignore" });
    secrets.set("second TLS key", pemBody(otherKey));
    const crashed = await hoist(["server", "--port", "0", "--listen", "127.0.0.1", "--data-dir", dataDir, "--no-jobs", "--tls-cert", cert, "--tls-key", otherKey, "--log-level", "debug"], {
      ...providerEnv,
      HOIST_API_KEY: secrets.get("admin API key"),
    });
    expect(crashed.code).toBe(1);
    expect(crashed.stderr).toMatch(/Error \S+/);
    expect(leaksIn(crashed.stdout + crashed.stderr)).toEqual([]);

    // The agent, running without its server (heartbeats failing, logged at debug), killed with SIGABRT.
    agent = spawnHoist(["agent", "--server", server?.url as string, "--source-root", source, "--state-dir", agentState, "--log-level", "debug"], providerEnv);
    const orphan = agent;
    await until("the agent to find its server gone", async () => (orphan.stderr.some((l) => l.includes("heartbeat failed")) ? true : undefined), 30_000);
    orphan.child.kill("SIGABRT");
    await orphan.exited;
    expect(leaksIn([...orphan.lines, ...orphan.stderr].join("\n"))).toEqual([]);
  });

  it("hoist migrate signs its Alibaba Cloud calls with the AccessKey secret but shows it nowhere: output, Logs/, client_data", async () => {
    const accessKeyId = "LTAI5tSecretsTest0001";
    const secretKey = randomBytes(18).toString("base64url");
    secrets.set("AccessKey secret", secretKey);
    const cloud = await startAlibabaContractFake({ dir: join(base, "cloud"), accessKeyId, accessKeySecret: secretKey });
    try {
      // The account may not list images: the run stops at its first call, signed with the secret.
      cloud.inject("DescribeImages", "Forbidden.RAM", { times: 20, product: "ecs", message: "User not authorized to operate on the specified resource." });
      const workdir = join(base, "migrate");
      mkdirSync(workdir);
      const config = debianUserConfig("secrets-img", { access_id: accessKeyId, secret_key: secretKey, region_id: cloud.region });
      writeFileSync(join(workdir, "user_config.json"), JSON.stringify(config));
      const r = await hoist(["migrate", "--noenterkey", "--verbose", "--workdir", workdir, "--source-root", source, "--endpoint-override", cloud.endpoint], providerEnv);
      expect(r.code).toBe(1);
      expect(r.stdout + r.stderr).toContain("Goto Hoist Not Finished!");
      expect(cloud.signaturesVerified).toBeGreaterThan(0);
      const left = filesUnder(workdir).filter((f) => !f.endsWith("user_config.json"));
      expect(left.some((f) => f.includes("/Logs/"))).toBe(true);
      expect(leaksIn(r.stdout + r.stderr, ["AccessKey secret"])).toEqual([]);
      for (const f of left) expect(leaksIn(readFileSync(f, "latin1"), ["AccessKey secret"]), f).toEqual([]);
    } finally {
      await cloud.close();
    }
  });
});

// `hoist agent` doing the work a control plane hands it: the agent daemon runs
// here against a stand-in for the control plane's agent endpoints (register,
// heartbeat, task progress and result, with the protocol's schemas checking
// every body) and copies into a real receiver started through the local
// provider. Copies are checked by an independent tree comparer.
import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { Writable } from "node:stream";
import { runAgentDaemon } from "@hoist/agent";
import {
  type AgentTask,
  type CreateJobResponse,
  HeartbeatRequestSchema,
  type TargetPlan,
  TaskProgressRequestSchema,
  type TaskProgressResponse,
  type TaskResultRequest,
  TaskResultRequestSchema,
  type TransferSettings,
  type TransferTask,
} from "@hoist/protocol";
import { createLocalProvider, type IntermediateInstance } from "@hoist/providers";
import { createLogger } from "@hoist/runtime";
import { createControlClient } from "@hoist/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseEverythingUnder } from "../helpers/cleanup";
import { buildFidelityTree, compareTrees } from "../helpers/tree";

const ROOT = resolve(import.meta.dirname, "../..");
const HOIST_MJS = join(ROOT, "apps/hoist/dist/hoist.mjs");
const TUNNEL = [process.execPath, HOIST_MJS, "tunnel"];
const base = mkdtempSync("/var/tmp/hoist-agent-tasks-");
const home = join(base, "home");
/** A root tree with every kind of file (and a 1 GiB sparse one), and a data disk's folder. */
const src = join(base, "source");
/** A small root tree of incompressible files, for copies slowed down to last a while. */
const bulk = join(base, "bulk-source");
const CODE = "code-for-the-stand-in";
const AGENT_TOKEN = `agent-${randomBytes(12).toString("hex")}`;

// --- A stand-in for hoist server's agent endpoints, recording every call.

interface Call {
  at: number;
  path: string;
  body: unknown;
  status: number;
}

interface HandedTask {
  task: AgentTask;
  /** What progress reports are answered with. */
  answer: TaskProgressResponse;
  cancelled: boolean;
  result?: TaskResultRequest;
}

class ControlPlaneStandIn {
  readonly calls: Call[] = [];
  readonly tasks = new Map<string, HandedTask>();
  /** Result posts still to refuse with 503, as a restarting server would. */
  refuseResults = 0;
  url = "";
  private server: Server | null = null;

  add(task: AgentTask): HandedTask {
    const t: HandedTask = { task, answer: { action: "continue" }, cancelled: false };
    this.tasks.set(task.taskId, t);
    return t;
  }

  callsTo(suffix: string, taskId?: string): Call[] {
    return this.calls.filter((c) => c.path.endsWith(suffix) && (taskId === undefined || c.path.includes(`/${taskId}/`)));
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.handle(req)
        .then(({ status, body }) => {
          res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
        })
        .catch((e: unknown) => res.writeHead(500).end(JSON.stringify({ code: "Internal.Error", message: String(e), retryable: true })));
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const body: unknown = text ? JSON.parse(text) : undefined;
    const path = req.url ?? "";
    const out = this.answer(path, req.headers.authorization, body);
    this.calls.push({ at: Date.now(), path, body, status: out.status });
    return out;
  }

  private answer(path: string, auth: string | undefined, body: unknown): { status: number; body: unknown } {
    const error = (status: number, code: string, message: string) => ({ status, body: { code, message, fix: "stand-in", retryable: status >= 500 } });
    if (path === "/v1/agents/register") {
      if ((body as { activationCode?: string }).activationCode !== CODE) return error(400, "ActivationCode.Invalid", "wrong code");
      return { status: 200, body: { sourceId: "s-standin", agentToken: AGENT_TOKEN, heartbeatSeconds: 1 } };
    }
    if (auth !== `Bearer ${AGENT_TOKEN}`) return error(401, "Agent.Unauthorized", "unknown agent");
    if (path === "/v1/agents/heartbeat") {
      const hb = HeartbeatRequestSchema.safeParse(body);
      if (!hb.success) return error(400, "Request.Invalid", hb.error.message);
      const running = new Set(hb.data.runningTaskIds ?? []);
      const tasks = [...this.tasks.values()].filter((t) => !t.cancelled && !t.result && !running.has(t.task.taskId)).map((t) => t.task);
      return { status: 200, body: { sourceId: "s-standin", state: "InUse", heartbeatSeconds: 1, tasks } };
    }
    const m = /^\/v1\/agents\/tasks\/([^/]+)\/(progress|result)$/.exec(path);
    const t = m?.[1] ? this.tasks.get(decodeURIComponent(m[1])) : undefined;
    if (m?.[2] === "progress") {
      if (!TaskProgressRequestSchema.safeParse(body).success) return error(400, "Request.Invalid", "bad progress");
      if (!t || t.cancelled) return error(404, "AgentTask.NotFound", "no such task");
      if (t.answer.action === "stop") t.cancelled = true;
      return { status: 200, body: t.answer };
    }
    if (m?.[2] === "result") {
      if (this.refuseResults > 0) {
        this.refuseResults--;
        return error(503, "Server.Unavailable", "restarting");
      }
      const r = TaskResultRequestSchema.safeParse(body);
      if (!r.success) return error(400, "Request.Invalid", r.error.message);
      if (!t || t.cancelled || t.result) return error(409, "AgentTask.NotRunning", "not running");
      t.result = r.data;
      return { status: 200, body: {} };
    }
    return error(404, "Http.NotFound", path);
  }
}

// --- The agent, run in this process as `hoist agent` would run it.

interface RunningAgent {
  stateDir: string;
  logFile: string;
  stop(): Promise<void>;
}

function startAgent(server: ControlPlaneStandIn, sourceRoot: string, stateDir = mkdtempSync(join(base, "agent-"))): RunningAgent {
  const logFile = join(base, `${stateDir.split("/").pop()}.log`);
  const controller = new AbortController();
  const done = runAgentDaemon({
    server: server.url,
    activationCode: CODE,
    sourceRoot,
    stateDir,
    heartbeatSeconds: 1,
    version: "0.0.0-test",
    logger: createLogger({ file: logFile, console: null }),
    out: new Writable({ write: (_c, _e, cb) => cb() }),
    signal: controller.signal,
    tunnel: TUNNEL,
    progressIntervalMs: 500,
  });
  done.catch(() => undefined);
  return {
    stateDir,
    logFile,
    async stop() {
      controller.abort();
      await done;
    },
  };
}

async function until(what: string, cond: () => boolean, timeoutMs: number, agent?: RunningAgent): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}${agent ? `\n${showAgent(agent)}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs an agent on `sourceRoot` until `cond` holds, then stops it (also when the wait fails); returns it for its log and state. */
async function runAgentUntil(server: ControlPlaneStandIn, sourceRoot: string, what: string, cond: () => boolean, timeoutMs: number): Promise<RunningAgent> {
  const agent = startAgent(server, sourceRoot);
  try {
    await until(what, cond, timeoutMs, agent);
  } finally {
    await agent.stop();
  }
  return agent;
}

/** rsync clients and tunnels started by this test process (the receiver's own processes are not counted). */
function copyProcesses(): string[] {
  const parent = new Map<number, number>();
  const found: { pid: number; argv: string[] }[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] === "Z") continue;
      parent.set(Number(d), Number(fields[1]));
      const argv = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").filter(Boolean);
      // rsync names the module as hoist::disk; the tunnel runs as `node hoist.mjs tunnel HOST rsync --server …`.
      if (argv.some((a) => a.startsWith("hoist::")) || (argv.includes("tunnel") && argv.includes(HOIST_MJS))) found.push({ pid: Number(d), argv });
    } catch {
      // gone meanwhile
    }
  }
  const ours = (pid: number) => {
    for (let p = pid, i = 0; p > 1 && i < 64; p = parent.get(p) ?? 0, i++) if (p === process.pid) return true;
    return false;
  };
  return found.filter((f) => ours(f.pid)).map((f) => f.argv.join(" "));
}

function duBytes(path: string): number {
  return Number(execFileSync("du", ["-sxb", path], { encoding: "utf8" }).split(/\s+/)[0]);
}

/** Every file under a folder, for a secret that must not be in any of them. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

// --- The receiver, through the local provider.

let instance: IntermediateInstance;
const stand = new ControlPlaneStandIn();

async function newReceiverJob(disks: { key: string; sourcePath: string }[]): Promise<CreateJobResponse & { mounts: Record<string, string> }> {
  const plan: TargetPlan = {
    bootMode: "bios",
    lvm: false,
    disks: disks.map((d) => ({
      key: d.key,
      sizeGiB: 2,
      table: "mbr",
      partitions: [{ key: `${d.key}-p1`, role: d.key === "system" ? "root" : "data", mountPoint: d.sourcePath, fs: "ext4", sizeMiB: null, uuid: randomUUID() }],
      sourcePath: d.sourcePath,
      usedBytes: 0,
    })),
  };
  const endpoint = { host: instance.host, port: instance.controlPort, fingerprint: instance.fingerprint };
  const job = await createControlClient({ ...endpoint, token: instance.adminToken }).json<CreateJobResponse>("POST", "/v1/jobs", { plan, label: "agent-tasks" });
  const prepared = await createControlClient({ ...endpoint, token: job.token, timeoutMs: 300_000 }).json<{ disks: { key: string; mountPath: string }[] }>("POST", `/v1/jobs/${job.jobId}/prepare`);
  return { ...job, mounts: Object.fromEntries(prepared.disks.map((d) => [d.key, d.mountPath])) };
}

let taskNo = 0;
function transferTask(job: CreateJobResponse, disks: TransferTask["disks"], settings: TransferSettings): TransferTask {
  taskNo++;
  return {
    taskId: `task-${taskNo}`,
    jobId: `j-${taskNo}`,
    kind: "transfer",
    receiver: { host: instance.host, dataPort: instance.dataPort, fingerprint: instance.fingerprint },
    receiverJobId: job.jobId,
    token: job.token,
    disks,
    settings,
    settingsVersion: 1,
  };
}

const systemOnly = (root: string): TransferTask["disks"] => [{ module: "system", sourcePath: "/", excludes: ["/srv/skipme"], usedBytes: duBytes(root) }];
/** What the system disk's copy leaves empty: the default excludes, the data disk's folder, the task's exclude. */
const LEFT_EMPTY = ["proc", "mnt", "data", "srv/skipme"];

/** Differences between a source and the system disk; the data disk is mounted at its folder there, so that one is not empty. */
function systemDiffs(root: string, job: { mounts: Record<string, string> }): string[] {
  const diffs = compareTrees(root, job.mounts["system"]!, { excludedContents: LEFT_EMPTY.filter((d) => existsSync(join(root, d))) });
  return job.mounts["disk1"] === join(job.mounts["system"]!, "data") ? diffs.filter((d) => !d.startsWith('"data": excluded folder is not empty')) : diffs;
}

/** The agent's log and its copy processes, for a failure message. */
function showAgent(agent: RunningAgent): string {
  const log = existsSync(agent.logFile) ? readFileSync(agent.logFile, "utf8").split("\n").slice(-15).join("\n") : "(no log)";
  return `copy processes: ${JSON.stringify(copyProcesses())}\nagent log:\n${log}`;
}

beforeAll(async () => {
  if (!existsSync(HOIST_MJS)) execFileSync("node", ["scripts/build.mjs"], { cwd: ROOT, stdio: "inherit" });
  // The local provider starts receivers with this executable.
  process.env["HOIST_BIN"] = join(ROOT, "apps/hoist/bin/hoist");
  mkdirSync(src);
  buildFidelityTree(src);
  writeFileSync(join(src, "etc/os-release"), 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n');
  mkdirSync(join(src, "usr/lib/grub/i386-pc"), { recursive: true });
  writeFileSync(join(src, "usr/lib/grub/i386-pc/normal.mod"), "grub module\n");
  for (const dir of ["proc/1", "mnt/usb", "srv/skipme", "data/db", "bulk"]) mkdirSync(join(src, dir), { recursive: true });
  writeFileSync(join(src, "proc/1/status"), "excluded\n");
  writeFileSync(join(src, "mnt/usb/photo.jpg"), "excluded\n");
  writeFileSync(join(src, "srv/skipme/cache.bin"), randomBytes(4096));
  writeFileSync(join(src, "data/db/table.dat"), randomBytes(3 * 2 ** 20));
  // Enough bytes that a copy limited to a few MB/s runs for several seconds.
  for (let i = 0; i < 3; i++) writeFileSync(join(src, "bulk", `blob-${i}.bin`), randomBytes(2 * 2 ** 20));
  for (const dir of ["etc", "usr/lib/grub/i386-pc", "srv/skipme", "bulk/a", "bulk/b"]) mkdirSync(join(bulk, dir), { recursive: true });
  writeFileSync(join(bulk, "etc/os-release"), 'ID=debian\nVERSION_ID="12"\n');
  writeFileSync(join(bulk, "etc/hostname"), "bulk\n");
  writeFileSync(join(bulk, "srv/skipme/cache.bin"), randomBytes(4096));
  for (let i = 0; i < 8; i++) writeFileSync(join(bulk, i % 2 ? "bulk/a" : "bulk/b", `blob-${i}.bin`), randomBytes(3 * 2 ** 20));
  instance = await createLocalProvider({ home, imageStore: join(base, "images") }).createIntermediateInstance({ region: "local", label: "agent-tasks" });
  await stand.start();
});

afterAll(async () => {
  await stand.close();
  if (instance) await createLocalProvider({ home, imageStore: join(base, "images") }).releaseIntermediateInstance(instance.instanceId).catch((e: unknown) => console.error(e));
  releaseEverythingUnder(base, home);
});

const bytesDone = (c: Call) => (c.body as { bytesDone: number }).bytesDone;

describe("hoist agent runs the tasks the control plane hands it", () => {
  let jobA: Awaited<ReturnType<typeof newReceiverJob>>;
  let disksA: TransferTask["disks"];

  it("reports an inventory, and an inventory error with its code and fix", async () => {
    const ok = stand.add({ taskId: "inv-1", jobId: "j-inv", kind: "inventory", paths: ["/data"], bootMode: "bios" });
    const refused = stand.add({ taskId: "inv-2", jobId: "j-inv2", kind: "inventory", paths: [], bootMode: "uefi" });
    await runAgentUntil(stand, src, "both inventory results arrived", () => ok.result !== undefined && refused.result !== undefined, 60_000);
    expect(ok.result).toMatchObject({ ok: true, inventory: { bootMode: "bios", os: { id: "debian", versionId: "12" } } });
    const inventory = (ok.result as { inventory: { paths: { path: string; usedBytes: number }[] } }).inventory;
    // The folder is named as on the source, and measured there.
    expect(inventory.paths).toEqual([{ path: "/data", usedBytes: duBytes(join(src, "data")) }]);
    expect(refused.result).toMatchObject({ ok: false, error: { code: "Inventory.BootModeUnsupported" } });
    expect((refused.result as { error: { fix?: string } }).error.fix).toMatch(/grub-efi/);
  });

  it("copies a system and a data disk exactly, with growing progress, a result, and heartbeats on time", async () => {
    jobA = await newReceiverJob([
      { key: "system", sourcePath: "/" },
      { key: "disk1", sourcePath: "/data" },
    ]);
    disksA = [
      { module: "system", sourcePath: "/", excludes: ["/srv/skipme"], usedBytes: duBytes(src) - duBytes(join(src, "data")) },
      { module: "disk1", sourcePath: "/data", excludes: [], usedBytes: duBytes(join(src, "data")) },
    ];
    const t = stand.add(transferTask(jobA, disksA, { streams: 2, bandwidthKBps: 0, compression: 0, checksum: false }));
    const agent = await runAgentUntil(stand, src, "the copy's result arrived", () => t.result !== undefined, 300_000);
    expect(t.result).toMatchObject({ ok: true, vanishedFiles: false });
    const total = (t.result as { bytesTotal: number }).bytesTotal;
    expect(systemDiffs(src, jobA)).toEqual([]);
    expect(compareTrees(join(src, "data"), jobA.mounts["disk1"]!)).toEqual([]);

    const reports = stand.callsTo("/progress", t.task.taskId).map((c) => c.body as { bytesDone: number; bytesTotal: number; bytesPerSecond: number; disk: string });
    const done = reports.map((r) => r.bytesDone);
    expect(done).toEqual([...done].sort((a, b) => a - b));
    expect(new Set(done).size).toBeGreaterThanOrEqual(3);
    expect(done.at(-1)).toBe(total);
    expect(reports.every((r) => r.bytesTotal >= r.bytesDone)).toBe(true);
    expect(reports.some((r) => r.bytesPerSecond > 0)).toBe(true);
    expect(reports.map((r) => r.disk)).toEqual(expect.arrayContaining(["system", "disk1"]));

    // The heartbeats went on every second while the copy ran, naming the task.
    const during = stand.callsTo("/heartbeat").filter((c) => ((c.body as { runningTaskIds?: string[] }).runningTaskIds ?? []).includes(t.task.taskId));
    expect(during.length).toBeGreaterThanOrEqual(2);
    const gaps = during.slice(1).map((c, i) => c.at - during[i]!.at);
    expect(Math.max(...gaps)).toBeLessThan(1800);

    // The receiver token is a secret: not in the log, not in the state folder.
    expect(readFileSync(agent.logFile, "utf8")).not.toContain(jobA.token);
    for (const f of filesUnder(agent.stateDir)) expect(readFileSync(f, "latin1")).not.toContain(jobA.token);
    expect(copyProcesses()).toEqual([]);
  });

  it("keeps posting a result the server refuses (503) until it is taken", async () => {
    writeFileSync(join(src, "etc/motd"), "changed after the first copy\n");
    stand.refuseResults = 2;
    const t = stand.add(transferTask(jobA, disksA, { streams: 2, bandwidthKBps: 0, compression: 0, checksum: false }));
    await runAgentUntil(stand, src, "the result was taken", () => t.result !== undefined, 120_000);
    expect(stand.callsTo("/result", t.task.taskId).map((c) => c.status)).toEqual([503, 503, 200]);
    expect(t.result).toMatchObject({ ok: true });
    expect(systemDiffs(src, jobA)).toEqual([]);
    expect(compareTrees(join(src, "data"), jobA.mounts["disk1"]!)).toEqual([]);
  });

  let jobB: Awaited<ReturnType<typeof newReceiverJob>>;

  it("ends a copy the server stops, without a result and without an rsync left", async () => {
    jobB = await newReceiverJob([{ key: "system", sourcePath: "/" }]);
    const t = stand.add(transferTask(jobB, systemOnly(bulk), { streams: 2, bandwidthKBps: 3000, compression: 0, checksum: false }));
    const agent = startAgent(stand, bulk);
    try {
      await until("the copy reported progress twice", () => stand.callsTo("/progress", t.task.taskId).filter((c) => bytesDone(c) > 0).length >= 2, 60_000, agent);
      expect(copyProcesses().length).toBeGreaterThan(0);
      t.answer = { action: "stop" };
      await until("the copy's processes are gone", () => copyProcesses().length === 0, 15_000, agent);
      const heartbeatsBefore = stand.callsTo("/heartbeat").length;
      await until("two more heartbeats", () => stand.callsTo("/heartbeat").length >= heartbeatsBefore + 2, 10_000, agent);
      const last = stand.callsTo("/heartbeat").at(-1)!.body as { runningTaskIds: string[] };
      expect(last.runningTaskIds).not.toContain(t.task.taskId);
    } finally {
      await agent.stop();
    }
    expect(stand.callsTo("/result", t.task.taskId)).toEqual([]);
    // It stopped part-way.
    expect(systemDiffs(bulk, jobB).length).toBeGreaterThan(0);
  });

  it("restarts the copy with new settings when their version goes up, and still copies exactly", async () => {
    const t = stand.add(transferTask(jobB, systemOnly(bulk), { streams: 1, bandwidthKBps: 1000, compression: 0, checksum: false }));
    const agent = startAgent(stand, bulk);
    const newSettings = () => copyProcesses().some((p) => p.includes("--zc=zstd") && p.split(" ").includes("-c"));
    try {
      await until("the copy reported progress", () => stand.callsTo("/progress", t.task.taskId).some((c) => bytesDone(c) > 0), 60_000, agent);
      expect(copyProcesses().length).toBeGreaterThan(0);
      expect(newSettings()).toBe(false);
      t.answer = { action: "continue", settingsVersion: 2, settings: { streams: 2, bandwidthKBps: 2000, compression: 3, checksum: true } };
      await until("rsync runs with the new settings", newSettings, 30_000, agent);
      await until("the copy's result arrived", () => t.result !== undefined, 120_000, agent);
    } finally {
      await agent.stop();
    }
    expect(t.result).toMatchObject({ ok: true });
    expect(readFileSync(agent.logFile, "utf8")).toContain("restarting the copy with the new settings");
    expect(systemDiffs(bulk, jobB)).toEqual([]);
  });

  it("stops its copy before it exits, and resumes the task handed out again after a restart", async () => {
    const jobC = await newReceiverJob([{ key: "system", sourcePath: "/" }]);
    const t = stand.add(transferTask(jobC, systemOnly(bulk), { streams: 2, bandwidthKBps: 3000, compression: 0, checksum: false }));
    const first = startAgent(stand, bulk);
    try {
      await until("the copy reported progress", () => stand.callsTo("/progress", t.task.taskId).some((c) => bytesDone(c) > 0), 60_000, first);
      expect(copyProcesses().length).toBeGreaterThan(0);
    } finally {
      await first.stop();
    }
    // The agent returned only after its copy was gone.
    expect(copyProcesses()).toEqual([]);
    expect(t.result).toBeUndefined();
    expect(systemDiffs(bulk, jobC).length).toBeGreaterThan(0);

    // Same state folder: the same source, and the server hands the unfinished task out again.
    const registered = stand.callsTo("/register").length;
    const again = startAgent(stand, bulk, first.stateDir);
    try {
      await until("the resumed copy's result arrived", () => t.result !== undefined, 120_000, again);
    } finally {
      await again.stop();
    }
    expect(stand.callsTo("/register")).toHaveLength(registered);
    expect(t.result).toMatchObject({ ok: true });
    expect(systemDiffs(bulk, jobC)).toEqual([]);
  });
});

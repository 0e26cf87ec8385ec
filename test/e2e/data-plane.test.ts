// The file-level data plane end to end: a real `hoist receiver` process with
// the disk backend (ext4 on loop devices), jobs made through its control API,
// fidelity trees copied through the TLS tunnel
// with one and with four rsync streams, kill -9 of the agent mid-transfer
// (its rsync clients must die with it), and an incremental re-sync. Copies are
// checked by an independent comparer.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { join, resolve } from "node:path";
import { type TransferOptions, transferTree } from "@hoist/agent";
import type { CreateJobResponse, TargetPlan } from "@hoist/protocol";
import { createControlClient } from "@hoist/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ReceiverProcess, startReceiverProcess } from "../helpers/receiver";
import { bundleRunner } from "../helpers/build";
import { buildFidelityTree, compareTrees } from "../helpers/tree";

const ROOT = resolve(import.meta.dirname, "../..");
const HOIST_MJS = join(ROOT, "apps/hoist/dist/hoist.mjs");
const TUNNEL = [process.execPath, HOIST_MJS, "tunnel"];
const base = mkdtempSync("/var/tmp/hoist-data-plane-");
const stateDir = join(base, "receiver-state");
const PLAN: TargetPlan = {
  bootMode: "bios",
  lvm: false,
  disks: [
    {
      key: "system",
      sizeGiB: 20,
      table: "mbr",
      partitions: [{ key: "system-p1", role: "root", mountPoint: "/", fs: "ext4", sizeMiB: null }],
      sourcePath: "/",
      usedBytes: 2 * 2 ** 30,
    },
  ],
};

let receiver: ReceiverProcess;
let runnerPath: string;
const jobs: CreateJobResponse[] = [];

function adminClient() {
  const token = readFileSync(join(stateDir, "admin.token"), "utf8").trim();
  return createControlClient({ host: "127.0.0.1", port: receiver.ready.controlPort, fingerprint: receiver.ready.fingerprint, token });
}

async function newJob(): Promise<CreateJobResponse & { target: string }> {
  // The disk backend formats each partition with the UUID the plan chose.
  const plan = structuredClone(PLAN);
  plan.disks[0]!.partitions[0]!.uuid = randomUUID();
  const job = await adminClient().json<CreateJobResponse>("POST", "/v1/jobs", { plan, label: "data-plane" });
  jobs.push(job);
  const client = createControlClient({ host: "127.0.0.1", port: receiver.ready.controlPort, fingerprint: receiver.ready.fingerprint, token: job.token });
  const prepared = await client.json<{ disks: { key: string; mountPath: string }[] }>("POST", `/v1/jobs/${job.jobId}/prepare`);
  return { ...job, target: prepared.disks[0]!.mountPath };
}

function transferOptions(source: string, job: CreateJobResponse, extra: Partial<TransferOptions> = {}): TransferOptions {
  return {
    source,
    receiver: { host: "127.0.0.1", dataPort: receiver.ready.dataPort, fingerprint: receiver.ready.fingerprint },
    jobId: job.jobId,
    token: job.token,
    module: "system",
    excludes: ["/proc/*", "/dev/*"],
    tunnel: TUNNEL,
    ...extra,
  };
}

/** Runs a transfer in its own process (the agent), so it can be killed with SIGKILL. */
function startAgent(options: TransferOptions): { proc: ChildProcess; progress: () => number; result: Promise<{ done?: boolean; error?: string }> } {
  const proc = spawn(process.execPath, [runnerPath], { env: { ...process.env, RUNNER_OPTS: JSON.stringify(options) }, stdio: ["ignore", "pipe", "inherit"] });
  let bytes = 0;
  let last: { done?: boolean; error?: string } = {};
  createInterface({ input: proc.stdout! }).on("line", (l) => {
    const msg = JSON.parse(l) as { bytesDone?: number; done?: boolean; error?: string };
    if (msg.bytesDone !== undefined) bytes = msg.bytesDone;
    else last = msg;
  });
  const result = new Promise<{ done?: boolean; error?: string }>((r) => proc.once("close", () => r(last)));
  return { proc, progress: () => bytes, result };
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 100));
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
}

/** ~0.7 GB: six big random files and a couple of thousand small ones. */
function buildBigTree(dir: string): void {
  for (let i = 0; i < 6; i++) {
    const sub = join(dir, `data${i % 4}`);
    mkdirSync(sub, { recursive: true });
    const chunk = randomBytes(8 * 2 ** 20);
    const parts: Buffer[] = [];
    for (let j = 0; j < 15; j++) parts.push(chunk.subarray(0, 8 * 2 ** 20 - j));
    writeFileSync(join(sub, `blob-${i}.bin`), Buffer.concat(parts));
  }
  for (let i = 0; i < 2000; i++) {
    const sub = join(dir, "small", `d${i % 40}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}.txt`), randomBytes(500 + (i % 7) * 1000));
  }
  execFileSync("ln", [join(dir, "data0", "blob-0.bin"), join(dir, "small", "blob-0-link")]);
}

beforeAll(async () => {
  if (!existsSync(HOIST_MJS)) execFileSync("node", ["scripts/build.mjs"], { cwd: ROOT, stdio: "inherit" });
  runnerPath = join(base, "agent-runner.mjs");
  await bundleRunner(
    `import { transferTree } from "@hoist/agent";
const o = JSON.parse(process.env.RUNNER_OPTS);
try {
  await transferTree({ ...o, onProgress: (p) => process.stdout.write(JSON.stringify(p) + "\\n") });
  process.stdout.write(JSON.stringify({ done: true }) + "\\n");
} catch (e) {
  process.stdout.write(JSON.stringify({ error: e.code, message: e.message }) + "\\n");
  process.exitCode = 1;
}`,
    runnerPath,
  );
  receiver = await startReceiverProcess(stateDir);
});

/** DELETE releases the job's disks: unmounts, detaches its loop devices, removes the raw files. */
async function releaseJob(job: CreateJobResponse): Promise<void> {
  const client = createControlClient({ host: "127.0.0.1", port: receiver.ready.controlPort, fingerprint: receiver.ready.fingerprint, token: job.token });
  await client.json("DELETE", `/v1/jobs/${job.jobId}`);
  jobs.splice(jobs.indexOf(job), 1);
}

afterAll(async () => {
  for (const job of [...jobs]) await releaseJob(job).catch((e: unknown) => console.error(`could not release ${job.jobId}:`, e));
  await receiver?.stop();
  rmSync(base, { recursive: true, force: true });
});

describe("data plane", () => {
  const fidelity = join(base, "fidelity");

  it("copies a fidelity tree exactly through the tunnel with one stream", async () => {
    mkdirSync(fidelity);
    buildFidelityTree(fidelity);
    mkdirSync(join(fidelity, "proc", "1"), { recursive: true });
    writeFileSync(join(fidelity, "proc", "1", "status"), "excluded\n");
    mkdirSync(join(fidelity, "dev"));
    const job = await newJob();
    const progress: number[] = [];
    const result = await transferTree(transferOptions(fidelity, job, { streams: 1, onProgress: (p) => progress.push(p.bytesDone) }));
    expect(result.streams).toBe(1);
    expect(progress.at(-1)).toBe(result.bytesTotal);
    expect(compareTrees(fidelity, job.target, { excludedContents: ["proc", "dev"] })).toEqual([]);
  });

  it("copies it exactly with four streams, hard links across streams included, and re-syncs changes", async () => {
    const job = await newJob();
    const result = await transferTree(transferOptions(fidelity, job, { streams: 4 }));
    expect(result.streams).toBeGreaterThan(1);
    // The cross-folder hard links only survive if their units share a stream.
    expect(compareTrees(fidelity, job.target, { excludedContents: ["proc", "dev"] })).toEqual([]);

    writeFileSync(join(fidelity, "etc", "hostname"), "renamed-host\n");
    utimesSync(join(fidelity, "etc", "hostname"), new Date("2010-01-01"), new Date("2010-01-01"));
    unlinkSync(join(fidelity, "usr", "bin", "tool-alias"));
    rmSync(join(fidelity, "deep", "level-0"), { recursive: true });
    writeFileSync(join(fidelity, "var", "log", "new.log"), "new\n");
    await transferTree(transferOptions(fidelity, job, { streams: 4 }));
    expect(compareTrees(fidelity, job.target, { excludedContents: ["proc", "dev"] })).toEqual([]);
  });

  const big = join(base, "big");

  // Many SIGKILLs of either side at random points: test/e2e/faults-kill.test.ts. This one checks
  // what those trials do not: the agent's rsync clients die with it.
  it("ends in an exact copy after the agent is killed with SIGKILL, and its rsync clients die with it", async () => {
    mkdirSync(big);
    buildBigTree(big);
    const job = await newJob();
    const stateFile = join(base, "agent-pids.json");
    const agent = startAgent(transferOptions(big, job, { streams: 4, bandwidthKBps: 40_000, stateFile }));
    await until(() => agent.progress() > 0 && existsSync(stateFile), 60_000);
    await new Promise((r) => setTimeout(r, 1500));
    const pgids = (JSON.parse(readFileSync(stateFile, "utf8")) as { pgids: number[] }).pgids;
    agent.proc.kill("SIGKILL");
    expect((await agent.result).done).not.toBe(true);
    // Its rsync clients die with it (PR_SET_PDEATHSIG).
    await until(() => pgids.every((p) => !pidAlive(p)), 10_000);
    expect(compareTrees(big, job.target).length).toBeGreaterThan(0);
    const final = startAgent(transferOptions(big, job, { streams: 4, stateFile }));
    expect(await final.result).toEqual({ done: true });
    expect(compareTrees(big, job.target)).toEqual([]);
    await releaseJob(job);
  });
});

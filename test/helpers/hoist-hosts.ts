// A receiver and an agent on two test hosts: the built `hoist receiver` runs in
// one namespace on its real ports (8080 control, 8703 data), the agent's copy
// (transferTree in a process of its own) in the other, and the test reaches
// the receiver's control API over an unshaped management link.
import { type ChildProcess, execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import type { SourceChanges, TransferOptions } from "@hoist/agent";
import type { CreateJobResponse, ReceiverReady, TargetPlan } from "@hoist/protocol";
import { createControlClient } from "@hoist/transport";
import { build } from "esbuild";
import type { TestHost, TestNet } from "./netns";
import { RUNNER_BUNDLE } from "./build";
import { ONE_DISK_PLAN } from "./receiver";

// HOIST_ROOT lets a bundled copy of these helpers (the soak) find the repository.
export const ROOT = process.env.HOIST_ROOT ?? resolve(import.meta.dirname, "../..");
export const HOIST_MJS = join(ROOT, "apps/hoist/dist/hoist.mjs");
export const TUNNEL = [process.execPath, join(ROOT, "apps/hoist/dist/tunnel.mjs")];

export function ensureBuilt(): void {
  if (!existsSync(HOIST_MJS)) execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: ROOT, stdio: "inherit" });
}

/** Bundles one of the test helpers' entry files into a plain .mjs node can run in another namespace. */
export async function bundleScript(entry: string, outfile: string): Promise<string> {
  await build({ ...RUNNER_BUNDLE, entryPoints: [join(ROOT, "test/helpers", entry)], outfile });
  return outfile;
}

export interface ReceiverHost {
  proc: ChildProcess;
  ready: ReceiverReady;
  /** Address of the receiver on the shaped link (what agents use). */
  dataHost: string;
  /** Address the test process reaches the control API at. */
  controlHost: string;
  stateDir: string;
  adminToken(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
  exited(): boolean;
  /** What the receiver wrote on stderr (its log lines and any crash output). */
  stderr(): string;
}

function waitReady(proc: ChildProcess, timeoutMs: number): Promise<ReceiverReady> {
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error("the receiver did not report ready in time")), timeoutMs);
    createInterface({ input: proc.stdout! }).once("line", (line) => {
      clearTimeout(timer);
      try {
        res(JSON.parse(line) as ReceiverReady);
      } catch (e) {
        rej(e);
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      rej(new Error(`receiver exited with ${code} before it was ready`));
    });
  });
}

export async function startReceiverOn(net: TestNet, host: TestHost, controlHost: string, stateDir: string, backend: "dir" | "disk" = "dir"): Promise<ReceiverHost> {
  const proc = net.spawn(host, process.execPath, [HOIST_MJS, "receiver", "--state-dir", stateDir, "--target-backend", backend, "--log-level", "info"], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  proc.stderr!.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString("utf8")).slice(-2_000_000);
  });
  let gone = false;
  const exited = new Promise<void>((r) =>
    proc.once("exit", () => {
      gone = true;
      r();
    }),
  );
  const ready = await waitReady(proc, 30_000);
  return {
    proc,
    ready,
    dataHost: host.address,
    controlHost,
    stateDir,
    adminToken: () => readFileSync(join(stateDir, "admin.token"), "utf8").trim(),
    /** Stops it with `signal`, and with SIGKILL if it is still there 15 s later. */
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (!gone) proc.kill(signal);
      const hard = setTimeout(() => proc.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(hard);
    },
    exited: () => gone,
    stderr: () => stderr,
  };
}

export function controlClient(r: ReceiverHost, token: string) {
  return createControlClient({ host: r.controlHost, port: r.ready.controlPort, fingerprint: r.ready.fingerprint, token });
}

export async function newJob(r: ReceiverHost, plan: TargetPlan = ONE_DISK_PLAN): Promise<CreateJobResponse & { target: string }> {
  const job = await controlClient(r, r.adminToken()).json<CreateJobResponse>("POST", "/v1/jobs", { plan, label: "faults" });
  const prepared = await controlClient(r, job.token).json<{ disks: { mountPath: string }[] }>("POST", `/v1/jobs/${job.jobId}/prepare`);
  return { ...job, target: prepared.disks[0]!.mountPath };
}

export async function releaseJob(r: ReceiverHost, job: CreateJobResponse): Promise<void> {
  await controlClient(r, job.token).json("DELETE", `/v1/jobs/${job.jobId}`);
}

export function transferOptions(r: ReceiverHost, source: string, job: CreateJobResponse, extra: Partial<TransferOptions> = {}): TransferOptions {
  return {
    source,
    receiver: { host: r.dataHost, dataPort: r.ready.dataPort, fingerprint: r.ready.fingerprint },
    jobId: job.jobId,
    token: job.token,
    module: "system",
    tunnel: TUNNEL,
    ...extra,
  };
}

export interface AgentOutcome {
  done?: boolean;
  error?: string;
  message?: string;
  vanishedFiles?: boolean;
  /** What changed on the source during the copy. */
  changes?: SourceChanges;
}

export interface AgentRun {
  proc: ChildProcess;
  progress(): number;
  result: Promise<AgentOutcome>;
}

/** Runs transferTree on `host` in a process of its own (the runner made by bundleScript("agent-runner-main.ts", …)). */
export function startAgentOn(net: TestNet, host: TestHost, runner: string, options: TransferOptions): AgentRun {
  const proc = net.spawn(host, process.execPath, [runner], { env: { ...process.env, RUNNER_OPTS: JSON.stringify(options) }, stdio: ["ignore", "pipe", "inherit"] });
  let bytes = 0;
  let last: AgentOutcome = {};
  createInterface({ input: proc.stdout! }).on("line", (l) => {
    const msg = JSON.parse(l) as AgentOutcome & { bytesDone?: number };
    if (msg.bytesDone !== undefined) bytes = msg.bytesDone;
    else last = msg;
  });
  const result = new Promise<AgentOutcome>((r) => proc.once("close", () => r(last)));
  return { proc, progress: () => bytes, result };
}

export async function until(cond: () => boolean, timeoutMs: number, what = "a condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves with the result, or kills the agent and rejects after `timeoutMs`. */
export async function agentResult(run: AgentRun, timeoutMs: number): Promise<AgentOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => {
      run.proc.kill("SIGKILL");
      rej(new Error(`the agent did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([run.result, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

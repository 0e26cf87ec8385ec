// Fault trials shared by the end-to-end fault tests and the soak script: each
// trial copies a small tree from the agent host to the receiver host, injects
// one fault at a random point (SIGKILL of the agent or of the receiver, or a
// cut of the link), then reruns the copy as a user would and checks the
// target against the source with the independent comparer.
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TransferOptions } from "@hoist/agent";
import { agentResult, bundleScript, ensureBuilt, type ReceiverHost, newJob, releaseJob, startAgentOn, startReceiverOn, transferOptions } from "./hoist-hosts";
import { createTestNet, linkCounters, type TestNet } from "./netns";
import { compareTrees } from "./tree";

/** A tree of about `mib` MiB: a few larger files and many small ones, in nested folders. Returns its size in bytes. */
export function buildTree(dir: string, mib: number): number {
  let total = 0;
  const big = Math.max(1, Math.floor(mib / 1.5));
  for (let i = 0; i < big; i++) {
    const sub = join(dir, `data${i % 3}`);
    mkdirSync(sub, { recursive: true });
    const bytes = randomBytes(Math.floor(1.2 * 2 ** 20) + i * 4099);
    writeFileSync(join(sub, `blob-${i}.bin`), bytes);
    total += bytes.length;
  }
  for (let i = 0; i < 120; i++) {
    const sub = join(dir, "small", `d${i % 12}`);
    mkdirSync(sub, { recursive: true });
    const bytes = randomBytes(300 + ((i * 977) % 6000));
    writeFileSync(join(sub, `f${i}.txt`), bytes);
    total += bytes.length;
  }
  return total;
}

export interface Bench {
  net: TestNet;
  receiver: ReceiverHost;
  runner: string;
  base: string;
  source: string;
  sourceBytes: number;
  /** Re-starts the receiver on the same state (same certificate, jobs and ports). */
  restartReceiver(): Promise<void>;
}

/** The restart for a bench; it swaps `bench.receiver`. */
export function makeRestart(bench: Bench): () => Promise<void> {
  return async () => {
    const r = bench.receiver;
    await r.stop("SIGKILL");
    bench.receiver = await startReceiverOn(bench.net, bench.net.host("receiver"), r.controlHost, r.stateDir);
  };
}

export type FaultKind = "agent-kill" | "receiver-kill" | "link-cut";

export interface TrialResult {
  fault: FaultKind;
  /** Whether the fault struck before the copy finished (a fault after the end injects nothing). */
  injected: boolean;
  /** Error codes the interrupted runs ended with. */
  errors: string[];
  exact: boolean;
  differences: string[];
  /** Bytes that crossed the link beyond one copy of the tree (resent data and protocol overhead). */
  extraBytes: number;
  ms: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface TrialOptions {
  /** KB/s of the interrupted run, so the fault lands mid-copy. */
  bandwidthKBps: number;
  /** The fault strikes this many ms after the run starts, drawn from [min, max]. */
  atMs: [number, number];
  /** Length of a link cut. */
  cutMs?: number;
  /** Limit for each run to finish. */
  runTimeoutMs?: number;
}

/** One trial: a new job, a copy interrupted by `fault`, a rerun, and the check. */
export async function runTrial(bench: Bench, fault: FaultKind, rnd: () => number, options: TrialOptions): Promise<TrialResult> {
  const started = Date.now();
  const agentHost = bench.net.host("agent");
  const job = await newJob(bench.receiver);
  const stateFile = join(bench.base, `agent-state-${job.jobId}.json`);
  const opts = (extra: Partial<TransferOptions>) => transferOptions(bench.receiver, bench.source, job, { streams: 2, stateFile, ...extra });
  const before = linkCounters(bench.net, bench.net.host("receiver")).rx;
  const timeout = options.runTimeoutMs ?? 120_000;
  const errors: string[] = [];
  const at = options.atMs[0] + Math.floor(rnd() * (options.atMs[1] - options.atMs[0]));
  const first = startAgentOn(bench.net, agentHost, bench.runner, opts({ bandwidthKBps: options.bandwidthKBps }));
  let finished = false;
  void first.result.then(() => {
    finished = true;
  });
  await Promise.race([sleep(at), first.result]);
  const injected = !finished;
  if (injected) {
    if (fault === "agent-kill") {
      first.proc.kill("SIGKILL");
    } else if (fault === "receiver-kill") {
      await bench.restartReceiver();
    } else {
      bench.net.cut();
      await sleep(options.cutMs ?? 5000);
      bench.net.restore();
    }
  }
  const outcome = await agentResult(first, timeout);
  if (outcome.error) errors.push(outcome.error);
  // Rerun until done: a user (or the control plane) retries a retryable error.
  let exactRun = outcome.done === true;
  for (let attempt = 0; !exactRun && attempt < 3; attempt++) {
    const again = await agentResult(startAgentOn(bench.net, agentHost, bench.runner, opts({})), timeout);
    if (again.error) errors.push(again.error);
    exactRun = again.done === true;
  }
  const differences = compareTrees(bench.source, job.target);
  const extraBytes = linkCounters(bench.net, bench.net.host("receiver")).rx - before - bench.sourceBytes;
  await releaseJob(bench.receiver, job).catch(() => undefined);
  return { fault, injected, errors, exact: exactRun && differences.length === 0, differences: differences.slice(0, 10), extraBytes, ms: Date.now() - started };
}

/** Two test hosts, a receiver on one with a management link, the agent runner, and a source tree of `mib` MiB. */
export async function setUpBench(base: string, mib: number, receiverStateDir = join(base, "receiver-state")): Promise<Bench> {
  ensureBuilt();
  const runner = await bundleScript("agent-runner-main.ts", join(base, "agent-runner.mjs"));
  const net = createTestNet("agent", "receiver");
  try {
    const controlHost = net.manage(net.host("receiver"));
    const source = join(base, "source");
    mkdirSync(source);
    const sourceBytes = buildTree(source, mib);
    const receiver = await startReceiverOn(net, net.host("receiver"), controlHost, receiverStateDir);
    const bench: Bench = { net, receiver, runner, base, source, sourceBytes, restartReceiver: async () => {} };
    bench.restartReceiver = makeRestart(bench);
    return bench;
  } catch (e) {
    net.destroy();
    throw e;
  }
}

export async function tearDownBench(bench: Bench | undefined): Promise<void> {
  await bench?.receiver.stop("SIGTERM").catch(() => undefined);
  bench?.net.destroy();
}

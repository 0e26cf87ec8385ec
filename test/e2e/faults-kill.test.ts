// SIGKILL at random points, many times: the agent's copy and the receiver
// are killed mid-transfer (agent and receiver on separate test hosts), the
// copy is run again as a user would, and every trial must end in a target
// equal to the source. The seed is printed; HOIST_FAULT_SEED replays a run.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bench, buildTree, makeRestart, runTrial, seededRandom, type TrialResult } from "../helpers/fault-trials";
import { bundleScript, ensureBuilt, startReceiverOn } from "../helpers/hoist-hosts";
import { createTestNet } from "../helpers/netns";

const TRIALS = 20;
const seed = Number(process.env.HOIST_FAULT_SEED ?? Date.now() % 1_000_000);
const base = mkdtempSync("/var/tmp/hoist-faults-kill-");
let bench: Bench;

beforeAll(async () => {
  ensureBuilt();
  console.log(`faults-kill seed ${seed} (HOIST_FAULT_SEED=${seed} replays it)`);
  const runner = await bundleScript("agent-runner-main.ts", join(base, "agent-runner.mjs"));
  const net = createTestNet("agent", "receiver");
  try {
    const controlHost = net.manage(net.host("receiver"));
    const source = join(base, "source");
    mkdirSync(source);
    const sourceBytes = buildTree(source, 4);
    const receiver = await startReceiverOn(net, net.host("receiver"), controlHost, join(base, "receiver-state"));
    const b: Bench = { net, receiver, runner, base, source, sourceBytes, restartReceiver: async () => {} };
    b.restartReceiver = makeRestart(b);
    bench = b;
  } catch (e) {
    net.destroy();
    throw e;
  }
});

afterAll(async () => {
  await bench?.receiver.stop("SIGTERM").catch(() => undefined);
  bench?.net.destroy();
  rmSync(base, { recursive: true, force: true });
});

function summary(results: TrialResult[]): string {
  return results.map((r, i) => `${i + 1}: ${r.fault} injected=${r.injected} errors=[${r.errors.join(",")}] exact=${r.exact} ${r.ms} ms${r.differences.length ? ` diff=${r.differences.join("; ")}` : ""}`).join("\n");
}

describe("SIGKILL at random points", () => {
  it(`the agent, ${TRIALS} times: every copy ends exact after a rerun`, async () => {
    const rnd = seededRandom(seed);
    const results: TrialResult[] = [];
    for (let i = 0; i < TRIALS; i++) results.push(await runTrial(bench, "agent-kill", rnd, { bandwidthKBps: 2500, atMs: [150, 2200], runTimeoutMs: 60_000 }));
    console.log(summary(results));
    expect(results.filter((r) => !r.exact), summary(results)).toEqual([]);
    // Most kills must land mid-copy, or the test proves nothing.
    expect(results.filter((r) => r.injected).length).toBeGreaterThanOrEqual(TRIALS * 0.75);
    // A killed agent leaves no error line: it just stops.
    expect(results.flatMap((r) => r.errors)).toEqual([]);
  });

  it(`the receiver, ${TRIALS} times: the agent reports a retryable code and the rerun ends exact`, async () => {
    const rnd = seededRandom(seed + 1);
    const results: TrialResult[] = [];
    for (let i = 0; i < TRIALS; i++) results.push(await runTrial(bench, "receiver-kill", rnd, { bandwidthKBps: 2500, atMs: [300, 2200], runTimeoutMs: 60_000 }));
    console.log(summary(results));
    expect(results.filter((r) => !r.exact), summary(results)).toEqual([]);
    expect(results.filter((r) => r.injected).length).toBeGreaterThanOrEqual(TRIALS * 0.75);
    for (const code of results.flatMap((r) => r.errors)) expect(code).toMatch(/^Transfer\.(ConnectionLost|Partial|Interrupted|Timeout)$|^Transport\.(ConnectFailed|Closed|ConnectTimeout)$/);
  });
});

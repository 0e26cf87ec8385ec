// SIGKILL at random points, many times: the agent's copy and the receiver
// are killed mid-transfer (agent and receiver on separate test hosts), the
// copy is run again as a user would, and every trial must end in a target
// equal to the source. The suite runs a few trials of each with a fixed seed;
// bench/soak.sh runs them by the hundred. HOIST_FAULT_SEED picks another seed
// (a failed run prints its own) and HOIST_FAULT_TRIALS another count.
import { mkdtempSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { useFaultBench } from "../helpers/fault-bench";
import { type Bench, runTrial, type TrialResult } from "../helpers/fault-trials";
import { seededRandom } from "../helpers/random";

const TRIALS = Number(process.env.HOIST_FAULT_TRIALS ?? 5);
const seed = Number(process.env.HOIST_FAULT_SEED ?? 20_261_206);
const base = mkdtempSync("/var/tmp/hoist-faults-kill-");
let bench: Bench;

console.log(`faults-kill seed ${seed} (HOIST_FAULT_SEED=${seed} replays it)`);
useFaultBench(base, 4, (b) => {
  bench = b;
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

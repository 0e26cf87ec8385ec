// A live source: while the agent copies, files are created, grown, truncated,
// renamed and deleted under it. The copy still completes (a vanished file is
// normal on a live server), and the follow-up incremental sync brings the
// target exactly up to date.
import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bench, setUpBench, tearDownBench } from "../helpers/fault-trials";
import { agentResult, newJob, releaseJob, startAgentOn, transferOptions, until } from "../helpers/hoist-hosts";
import { compareTrees } from "../helpers/tree";

const base = mkdtempSync("/var/tmp/hoist-faults-source-");
let bench: Bench;

beforeAll(async () => {
  bench = await setUpBench(base, 8);
});

afterAll(async () => {
  await tearDownBench(bench);
  rmSync(base, { recursive: true, force: true });
});

describe("a source that changes during the copy", () => {
  it("completes, and the next sync makes the target exact", async () => {
    const agent = bench.net.host("agent");
    const live = join(base, "live");
    execFileSync("cp", ["-a", `${bench.source}/.`, live]);
    const job = await newJob(bench.receiver);
    const run = startAgentOn(bench.net, agent, bench.runner, transferOptions(bench.receiver, live, job, { streams: 2, bandwidthKBps: 1500 }));
    try {
      await until(() => run.progress() > 0, 30_000, "the copy to start");
      await new Promise((r) => setTimeout(r, 800));
      mkdirSync(join(live, "created"));
      for (let i = 0; i < 5; i++) writeFileSync(join(live, "created", `new-${i}.txt`), `new ${i}\n`);
      appendFileSync(join(live, "data0", "blob-0.bin"), Buffer.alloc(2 ** 20, 9));
      truncateSync(join(live, "data1", "blob-1.bin"), 1000);
      renameSync(join(live, "small", "d0"), join(live, "small", "d0-renamed"));
      renameSync(join(live, "small", "d1", "f1.txt"), join(live, "small", "d1", "f1-moved.txt"));
      rmSync(join(live, "small", "d2"), { recursive: true });
      unlinkSync(join(live, "data2", "blob-2.bin"));
      // All of that happened while the copy was still running.
      expect(run.proc.exitCode).toBeNull();
      expect(run.progress()).toBeLessThan(bench.sourceBytes);
      const first = await agentResult(run, 120_000);
      expect(first, JSON.stringify(first)).toMatchObject({ done: true });
    } finally {
      run.proc.kill("SIGKILL");
    }
    const second = await agentResult(startAgentOn(bench.net, agent, bench.runner, transferOptions(bench.receiver, live, job, { streams: 2 })), 120_000);
    expect(second).toMatchObject({ done: true, vanishedFiles: false });
    expect(compareTrees(live, job.target)).toEqual([]);
    await releaseJob(bench.receiver, job);
  });
});

// A live source: while the agent copies, files are created, grown, truncated,
// renamed and deleted under it. The copy still completes (a vanished file is
// normal on a live server), reports each of those changes, and the follow-up
// incremental sync brings the target exactly up to date and reports none.
import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useFaultBench } from "../helpers/fault-bench";
import type { Bench } from "../helpers/fault-trials";
import { agentResult, newJob, releaseJob, startAgentOn, transferOptions, until } from "../helpers/hoist-hosts";
import { compareTrees } from "../helpers/tree";

const base = mkdtempSync("/var/tmp/hoist-faults-source-");
let bench: Bench;

useFaultBench(base, 8, (b) => {
  bench = b;
});

describe("a source that changes during the copy", () => {
  it("completes, reports what changed, and the next sync makes the target exact", async () => {
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
      // A folder that appeared or vanished is named once; the counts take in what was in it
      // (small/dN holds 10 files each): created/ with 5 files, d0-renamed/ with 10, f1-moved.txt.
      expect(first.changes).toMatchObject({ appeared: 6 + 11 + 1, vanished: 11 + 1 + 11 + 1, changed: 2 });
      const blob0 = statSync(join(bench.source, "data0", "blob-0.bin")).size;
      const blob1 = statSync(join(bench.source, "data1", "blob-1.bin")).size;
      expect(first.changes?.paths).toEqual([
        { change: "appeared", path: "/created", dir: true },
        { change: "appeared", path: "/small/d0-renamed", dir: true },
        { change: "appeared", path: "/small/d1/f1-moved.txt" },
        { change: "vanished", path: "/data2/blob-2.bin" },
        { change: "vanished", path: "/small/d0", dir: true },
        { change: "vanished", path: "/small/d1/f1.txt" },
        { change: "vanished", path: "/small/d2", dir: true },
        { change: "changed", path: "/data0/blob-0.bin", bytesBefore: blob0, bytesAfter: blob0 + 2 ** 20 },
        { change: "changed", path: "/data1/blob-1.bin", bytesBefore: blob1, bytesAfter: 1000 },
      ]);
    } finally {
      run.proc.kill("SIGKILL");
    }
    const second = await agentResult(startAgentOn(bench.net, agent, bench.runner, transferOptions(bench.receiver, live, job, { streams: 2 })), 120_000);
    expect(second).toMatchObject({ done: true, vanishedFiles: false, changes: { appeared: 0, vanished: 0, changed: 0, paths: [] } });
    expect(compareTrees(live, job.target)).toEqual([]);
    await releaseJob(bench.receiver, job);
  });
});

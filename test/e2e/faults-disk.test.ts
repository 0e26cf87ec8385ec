// The receiver's disk fills up mid-copy: the agent stops promptly (not after
// rsync's I/O timeout), a retry after freeing only a few MiB is refused with
// Receiver.DiskFull, the receiver keeps running, and
// once space is freed the rerun resumes — it sends what is missing, not the
// whole tree again — and ends exact. The receiver's state and target folders
// sit on a small ext4 image of their own.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseEverythingUnder } from "../helpers/cleanup";
import { type Bench, setUpBench, tearDownBench } from "../helpers/fault-trials";
import { agentResult, controlClient, newJob, startAgentOn, transferOptions } from "../helpers/hoist-hosts";
import { linkCounters } from "../helpers/netns";
import { compareTrees } from "../helpers/tree";

const base = mkdtempSync("/var/tmp/hoist-faults-disk-");
const small = join(base, "small");
let bench: Bench;

beforeAll(async () => {
  const image = join(base, "receiver-disk.img");
  execFileSync("truncate", ["-s", "72M", image]);
  execFileSync("mkfs.ext4", ["-q", "-F", "-m", "0", image]);
  mkdirSync(small);
  execFileSync("mount", ["-o", "loop", image, small]);
  // About 43 MB of source for about 62 MB of space, 40 + 6 MiB of it taken by ballast.
  writeFileSync(join(small, "ballast"), Buffer.alloc(40 * 2 ** 20, 1));
  writeFileSync(join(small, "ballast-small"), Buffer.alloc(6 * 2 ** 20, 1));
  bench = await setUpBench(base, 48, join(small, "state"));
});

afterAll(async () => {
  await tearDownBench(bench);
  releaseEverythingUnder(base, join(base, "none"));
});

describe("receiver disk full", () => {
  it("stops with Receiver.DiskFull, and the rerun after space is freed resumes and ends exact", async () => {
    const agent = bench.net.host("agent");
    const job = await newJob(bench.receiver);
    const first = await agentResult(startAgentOn(bench.net, agent, bench.runner, transferOptions(bench.receiver, bench.source, job, { streams: 2 })), 120_000);
    expect(first.done).not.toBe(true);
    // The rsync that hits the full disk can only report a dropped connection (daemon mode
    // keeps its reason on the receiver); the next attempt is told plainly.
    expect(first.error).toMatch(/^Receiver\.DiskFull$|^Transfer\.ConnectionLost$/);
    // Freeing a little is not enough: the disk filled, and a few MiB would only fill again.
    rmSync(join(small, "ballast-small"));
    const retried = await agentResult(startAgentOn(bench.net, agent, bench.runner, transferOptions(bench.receiver, bench.source, job, { streams: 2 })), 60_000);
    expect(retried.error).toBe("Receiver.DiskFull");
    expect(retried.message).toMatch(/target disk system .* is full/);
    // The receiver still answers, and says the job is still there.
    expect(bench.receiver.exited()).toBe(false);
    const status = await controlClient(bench.receiver, job.token).call<{ jobId: string }>("GET", `/v1/jobs/${job.jobId}`);
    expect(status.status).toBe(200);
    const copiedBefore = Number(execFileSync("du", ["-sb", job.target], { encoding: "utf8" }).split("\t")[0]);
    expect(copiedBefore).toBeGreaterThan(5 * 2 ** 20);

    rmSync(join(small, "ballast"));
    const rx = linkCounters(bench.net, bench.net.host("receiver")).rx;
    const again = await agentResult(startAgentOn(bench.net, agent, bench.runner, transferOptions(bench.receiver, bench.source, job, { streams: 2 })), 120_000);
    expect(again).toMatchObject({ done: true });
    expect(compareTrees(bench.source, job.target)).toEqual([]);
    // Resumed: what was already on the target was not sent again.
    const resent = linkCounters(bench.net, bench.net.host("receiver")).rx - rx;
    expect(resent).toBeLessThan(bench.sourceBytes - copiedBefore / 2);
    console.log(`disk full after ${copiedBefore} bytes; the rerun moved ${resent} of ${bench.sourceBytes}`);
  });
});

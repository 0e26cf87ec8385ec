// A bad network between the agent and the receiver (separate test hosts): the
// link cut for 30 s in the middle of a copy, and a whole copy over a link that
// drops 5% of its packets with 100 ms added each way. Each ends in a target
// equal to the source; an interrupted run must say why with a retryable code.
import { execFileSync } from "node:child_process";
import { mkdtempSync, } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { useFaultBench } from "../helpers/fault-bench";
import type { Bench } from "../helpers/fault-trials";
import { agentResult, bundleScript, newJob, releaseJob, startAgentOn, transferOptions, until } from "../helpers/hoist-hosts";
import { linkCounters } from "../helpers/netns";
import { compareTrees } from "../helpers/tree";

const base = mkdtempSync("/var/tmp/hoist-faults-network-");
let bench: Bench;

useFaultBench(base, 6, (b) => {
  bench = b;
});

/** Bytes under the target, partial files included. */
function targetBytes(dir: string): number {
  return Number(execFileSync("du", ["-sb", dir], { encoding: "utf8" }).split("\t")[0]);
}

const RETRYABLE = /^Transfer\.(ConnectionLost|Timeout|Interrupted)$|^Transport\.(ConnectFailed|ConnectTimeout|Closed|Timeout)$/;

describe("network faults", () => {
  it("a link cut for 30 s mid-copy ends exact, by itself or after a rerun", async () => {
    const agent = bench.net.host("agent");
    const job = await newJob(bench.receiver);
    // 16 Mbit/s: the 6 MiB tree takes about 3 s, so the cut lands mid-copy.
    bench.net.shape({ rateKbit: 16_000 });
    try {
      const run = startAgentOn(bench.net, agent, bench.runner, transferOptions(bench.receiver, bench.source, job, { streams: 2 }));
      try {
        await until(() => run.progress() > 0, 30_000, "the copy to start");
        bench.net.cut();
        const cutAt = Date.now();
        await new Promise((r) => setTimeout(r, 5_000));
        const during = targetBytes(job.target);
        await new Promise((r) => setTimeout(r, 25_000));
        // Nothing arrived while the link was cut, and the copy was not finished.
        expect(targetBytes(job.target)).toBe(during);
        expect(during).toBeLessThan(bench.sourceBytes);
        bench.net.restore();
        const outcome = await agentResult(run, 180_000);
        if (!outcome.done) {
          expect(outcome.error).toMatch(RETRYABLE);
          const again = await agentResult(startAgentOn(bench.net, agent, bench.runner, transferOptions(bench.receiver, bench.source, job, { streams: 2 })), 120_000);
          expect(again).toMatchObject({ done: true });
        }
        console.log(`cut: first run ${outcome.done ? "finished by itself" : `ended ${outcome.error}`} ${Math.round((Date.now() - cutAt) / 1000)} s after the cut began`);
        expect(compareTrees(bench.source, job.target)).toEqual([]);
      } finally {
        run.proc.kill("SIGKILL");
      }
    } finally {
      bench.net.restore();
      bench.net.shape({});
    }
    await releaseJob(bench.receiver, job);
  });

  it("5% packet loss with 100 ms added latency each way for a whole copy ends exact", async () => {
    const agent = bench.net.host("agent");
    const job = await newJob(bench.receiver);
    const proxyScript = await bundleScript("delay-proxy-main.ts", join(base, "delay-proxy.mjs"));
    const proxy = bench.net.spawn(agent, process.execPath, [proxyScript, "127.0.0.1", "0", bench.receiver.dataHost, String(bench.receiver.ready.dataPort), "100"], { stdio: ["pipe", "pipe", "inherit"] });
    try {
      const port = (JSON.parse(await new Promise<string>((r) => createInterface({ input: proxy.stdout! }).once("line", r))) as { port: number }).port;
      bench.net.shape({ lossPercent: 5 });
      const before = linkCounters(bench.net, bench.net.host("receiver")).rx;
      const t0 = Date.now();
      const options = transferOptions(bench.receiver, bench.source, job, { streams: 2, receiver: { host: "127.0.0.1", dataPort: port, fingerprint: bench.receiver.ready.fingerprint } });
      const outcome = await agentResult(startAgentOn(bench.net, agent, bench.runner, options), 240_000);
      const seconds = (Date.now() - t0) / 1000;
      expect(outcome).toMatchObject({ done: true });
      expect(compareTrees(bench.source, job.target)).toEqual([]);
      // It went through the proxy and the lossy link.
      expect(linkCounters(bench.net, bench.net.host("receiver")).rx - before).toBeGreaterThan(bench.sourceBytes);
      console.log(`lossy copy of ${bench.sourceBytes} bytes took ${seconds.toFixed(1)} s`);
    } finally {
      bench.net.shape({});
      proxy.kill("SIGKILL");
    }
    await releaseJob(bench.receiver, job);
  });
});

// The queue runs several workers in one replica, and one job can be sent to it
// more than once at a time (a restart's resume, an agent's result, the API).
// Those workers share the replica's lease, so the orchestrator itself must
// keep a job's steps to one loop: a step run twice at once made one image
// twice, and the two conversions removed each other's files.
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createLocalProvider } from "@hoist/providers";
import { silentLogger } from "@hoist/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshPglite } from "../../../../test/helpers/pglite";
import { type Harness, startHarness } from "./job-api-harness";
import { Orchestrator } from "./orchestrator";
import { finishRelease } from "./release";

const home = mkdtempSync("/var/tmp/hoist-orchestrator-advance-");
let h: Harness;

// Opening PGlite and starting two replicas takes longer than a hook's default 10 s when the whole suite shares 2 cores.
beforeAll(async () => {
  h = await startHarness({ name: "embedded PGlite", newDb: freshPglite, sameDb: async (db) => ({ ...db, close: async () => {} }) });
}, 120_000);

afterAll(async () => {
  await h.close();
  rmSync(home, { recursive: true, force: true });
});

describe("one job, several queue messages at once", () => {
  it("runs each step once: a second advance of a job this replica is moving only asks for another look", async () => {
    const local = createLocalProvider({ home: join(home, "home"), imageStore: join(home, "images") });
    const released: string[] = [];
    // The real local provider, with its release held open long enough for a second worker to arrive.
    const provider = {
      ...local,
      async releaseIntermediateInstance(...args: Parameters<typeof local.releaseIntermediateInstance>) {
        released.push(args[0]);
        await new Promise((r) => setTimeout(r, 300));
        return local.releaseIntermediateInstance(...args);
      },
    };
    const orchestrator = new Orchestrator({ db: h.db, log: silentLogger, provider, finishRelease });
    const job = await h.createJob({ ExecutionMethod: "CreateOnly" });
    expect(job.status, JSON.stringify(job.body)).toBe(201);
    await h.setStatus(job.jobId, "Deleting");
    await h.db.query("update replication_jobs set instance_id = 'i-local-00000000abcd' where job_id = $1", [job.jobId]);

    await Promise.all([orchestrator.advance(job.jobId), orchestrator.advance(job.jobId), orchestrator.advance(job.jobId)]);

    expect(released).toEqual(["i-local-00000000abcd"]);
    expect(await h.db.query("select 1 from replication_jobs where job_id = $1", [job.jobId])).toHaveLength(0);
  });
});

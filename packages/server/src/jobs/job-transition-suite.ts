// What a user can do to a replication job over HTTP, in every Status: the
// allowed moves and their side effects (source State, agent tasks, settings
// version, background work asked for), every refused one with
// ReplicationJob.InvalidStatus, expiry, the job's view, and two replicas
// racing on one job.
import type { BusinessStatus, JobStatus } from "@hoist/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTask } from "./agent-tasks";
import { type Harness, type JobApiDbs, startHarness } from "./job-api-harness";
import { finishRelease } from "./release";
import { expireJobs } from "./store";

type State = [JobStatus, BusinessStatus | null];
const STATES: State[] = [
  ["Ready", null],
  ["Running", "Preparing"],
  ["Running", "Syncing"],
  ["Running", "Processing"],
  ["Running", "Cleaning"],
  ["Stopped", "Syncing"],
  ["InError", "Syncing"],
  ["Finished", null],
  ["Waiting", null],
  ["Expired", null],
  ["Deleting", null],
];
const label = ([s, b]: State): string => (b ? `${s}/${b}` : s);

interface Action {
  name: string;
  call: (h: Harness, jobId: string) => ReturnType<Harness["a"]["call"]>;
  allowed: string[];
  /** Status after an allowed call; null: the job is gone; "same": unchanged. */
  after: JobStatus | null | "same";
  okStatus: number;
}

const ACTIONS: Action[] = [
  { name: "start", call: (h, id) => h.a.call("POST", `/v1/jobs/${id}/start`), allowed: ["Ready", "Stopped/Syncing", "InError/Syncing", "Waiting"], after: "Running", okStatus: 200 },
  { name: "retry", call: (h, id) => h.a.call("POST", `/v1/jobs/${id}/retry`), allowed: ["InError/Syncing"], after: "Running", okStatus: 200 },
  { name: "stop", call: (h, id) => h.a.call("POST", `/v1/jobs/${id}/stop`), allowed: ["Running/Preparing", "Running/Syncing", "Waiting"], after: "Stopped", okStatus: 200 },
  {
    name: "cancel",
    call: (h, id) => h.a.call("POST", `/v1/jobs/${id}/cancel`),
    allowed: ["Ready", "Running/Preparing", "Running/Syncing", "Running/Processing", "Running/Cleaning", "Stopped/Syncing", "InError/Syncing", "Waiting", "Expired"],
    after: null,
    okStatus: 200,
  },
  {
    name: "delete",
    call: (h, id) => h.a.call("DELETE", `/v1/jobs/${id}`),
    // A job already Deleting is handed to the release again.
    allowed: ["Ready", "Stopped/Syncing", "InError/Syncing", "Finished", "Waiting", "Expired", "Deleting"],
    after: null,
    okStatus: 202,
  },
  {
    name: "modify Name",
    call: (h, id) => h.a.call("POST", `/v1/jobs/${id}/modify`, { Name: "renamed" }),
    allowed: STATES.map(label).filter((s) => s !== "Deleting"),
    after: "same",
    okStatus: 200,
  },
  {
    name: "modify RateLimit",
    call: (h, id) => h.a.call("POST", `/v1/jobs/${id}/modify`, { RateLimit: 50 }),
    allowed: STATES.map(label).filter((s) => !["Finished", "Expired", "Deleting"].includes(s)),
    after: "same",
    okStatus: 200,
  },
];

async function statusOf(h: Harness, jobId: string): Promise<{ status: JobStatus; business: BusinessStatus | null } | null> {
  const rows = await h.db.query<{ status: JobStatus; business_status: BusinessStatus | null }>("select status, business_status from replication_jobs where job_id = $1", [jobId]);
  return rows[0] ? { status: rows[0].status, business: rows[0].business_status } : null;
}

async function sourceState(h: Harness, sourceId: string): Promise<string> {
  return (await h.a.call("GET", `/v1/sources/${sourceId}`)).body["state"] as string;
}

export function runJobTransitionTests(dbs: JobApiDbs): void {
  describe(`replication job transitions: ${dbs.name}`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await startHarness(dbs);
    }, 120_000);
    afterAll(async () => {
      await h?.close();
    });

    /** A job put into a state, as the orchestrator would have left it. */
    const jobIn = async (state: State) => {
      const r = await h.createJob({ ExecutionMethod: "CreateOnly" });
      expect(r.status).toBe(201);
      await h.setStatus(r.jobId, state[0], state[1]);
      return r;
    };

    describe("each action in each Status", () => {
      for (const action of ACTIONS) {
        for (const state of STATES) {
          const allowed = action.allowed.includes(label(state));
          it(`${action.name} on a ${label(state)} job: ${allowed ? "done" : "refused with ReplicationJob.InvalidStatus"}`, async () => {
            const { jobId, sourceId } = await jobIn(state);
            const r = await action.call(h, jobId);
            const now = await statusOf(h, jobId);
            if (!allowed) {
              expect(r, JSON.stringify(r.body)).toMatchObject({ status: 400, body: { code: "ReplicationJob.InvalidStatus", retryable: false } });
              expect(r.body["message"]).toContain(`is ${state[1] ? `${state[0]} (${state[1]})` : state[0]}`);
              expect(r.body["fix"]).toEqual(expect.any(String));
              expect(now).toEqual({ status: state[0], business: state[1] });
              expect(h.starts(jobId)).toEqual([]);
              expect(h.releases(jobId)).toEqual([]);
              return;
            }
            expect(r.status, JSON.stringify(r.body)).toBe(action.okStatus);
            if (action.after === null) {
              expect(now).toBeNull();
              expect(h.releases(jobId)).toEqual([jobId]);
              expect(await h.a.call("GET", `/v1/jobs/${jobId}`)).toMatchObject({ status: 404, body: { code: "ReplicationJob.NotFound" } });
              expect(await sourceState(h, sourceId)).toBe("Available");
            } else if (action.after === "same") {
              expect(now).toEqual({ status: state[0], business: state[1] });
              expect(r.body).toMatchObject(action.name === "modify Name" ? { Name: "renamed" } : { RateLimit: 50 });
            } else {
              expect(now?.status).toBe(action.after);
              expect(r.body["Status"]).toBe(action.after);
              expect(h.starts(jobId)).toEqual(action.after === "Running" ? [{ jobId, at: undefined }] : []);
            }
          });
        }
      }
    });

    it("an unknown job answers 404 ReplicationJob.NotFound to every action", async () => {
      const calls: [string, string, unknown?][] = [
        ["GET", "/v1/jobs/j-nothing"],
        ["POST", "/v1/jobs/j-nothing/start"],
        ["POST", "/v1/jobs/j-nothing/stop"],
        ["POST", "/v1/jobs/j-nothing/retry"],
        ["POST", "/v1/jobs/j-nothing/cancel"],
        ["POST", "/v1/jobs/j-nothing/modify", { Name: "x" }],
        ["DELETE", "/v1/jobs/j-nothing"],
      ];
      for (const [method, path, body] of calls) {
        expect(await h.a.call(method, path, body), `${method} ${path}`).toMatchObject({ status: 404, body: { code: "ReplicationJob.NotFound" } });
      }
    });

    it("stop pauses the copy: open agent tasks are cancelled and the agent hears stop; start resumes where it stopped", async () => {
      const { sourceId, agentToken } = await h.newSource();
      const { jobId } = await h.createJob({ SourceId: sourceId });
      await h.db.query("update replication_jobs set business_status = 'Syncing', bytes_done = 400, bytes_total = 1000, speed_bps = 100, current_run = 1 where job_id = $1", [jobId]);
      const running = await createTask(h.db, { jobId, sourceId, run: 1 }, { kind: "transfer", disks: [] });
      await h.db.query("update agent_tasks set state = 'running' where task_id = $1", [running]);
      const pending = await createTask(h.db, { jobId, sourceId, run: 1 }, { kind: "inventory", paths: [], bootMode: "auto" });
      const done = await createTask(h.db, { jobId, sourceId, run: 1 }, { kind: "inventory", paths: [], bootMode: "auto" });
      await h.db.query("update agent_tasks set state = 'done' where task_id = $1", [done]);
      const started = (await h.a.call("GET", `/v1/jobs/${jobId}`)).body["StartTime"];

      const stopped = await h.b.call("POST", `/v1/jobs/${jobId}/stop`);
      expect(stopped).toMatchObject({ status: 200, body: { Status: "Stopped", BusinessStatus: "Syncing", Transfer: { BytesDone: 400, BytesTotal: 1000, Speed: 0, TimeRemainingSeconds: null } } });
      const states = await h.db.query<{ task_id: string; state: string }>("select task_id, state from agent_tasks where job_id = $1", [jobId]);
      expect(Object.fromEntries(states.map((t) => [t.task_id, t.state]))).toEqual({ [running]: "cancelled", [pending]: "cancelled", [done]: "done" });
      const report = await fetch(`${h.a.server.url}/v1/agents/tasks/${running}/progress`, {
        method: "POST",
        headers: { authorization: `Bearer ${agentToken}`, "content-type": "application/json" },
        body: JSON.stringify({ bytesDone: 500, bytesTotal: 1000, bytesPerSecond: 100 }),
      });
      expect(await report.json()).toMatchObject({ action: "stop" });
      expect(await sourceState(h, sourceId)).toBe("InUse");

      const resumed = await h.a.call("POST", `/v1/jobs/${jobId}/start`);
      expect(resumed).toMatchObject({ status: 200, body: { Status: "Running", BusinessStatus: "Syncing", StartTime: started } });
      expect(h.starts(jobId)).toEqual([
        { jobId, at: undefined },
        { jobId, at: undefined },
      ]);
    });

    it("retry after a failed copy spends the failed agent task, so the job hands out a new one where it stopped", async () => {
      const { jobId, sourceId } = await h.createJob();
      const failed = await createTask(h.db, { jobId, sourceId, run: 1 }, { kind: "transfer", disks: [] });
      await h.db.query("update agent_tasks set state = 'failed' where task_id = $1", [failed]);
      await h.db.query("update replication_jobs set status = 'InError', business_status = 'Syncing', current_run = 1, error_code = 'Transfer.Failed' where job_id = $1", [jobId]);
      const r = await h.a.call("POST", `/v1/jobs/${jobId}/retry`);
      expect(r).toMatchObject({ status: 200, body: { Status: "Running", BusinessStatus: "Syncing", ErrorCode: null } });
      expect((await h.db.query<{ state: string }>("select state from agent_tasks where task_id = $1", [failed]))[0]?.state).toBe("cancelled");
    });

    it("a running copy's progress shows on the job, with speed and time remaining, and the agent hears the current settings", async () => {
      const { sourceId, agentToken } = await h.newSource();
      const { jobId } = await h.createJob({ SourceId: sourceId, RateLimit: 40 });
      await h.db.query("update replication_jobs set business_status = 'Syncing', current_run = 1 where job_id = $1", [jobId]);
      const task = await createTask(h.db, { jobId, sourceId, run: 1 }, { kind: "transfer", disks: [] });
      await h.db.query("update agent_tasks set state = 'running' where task_id = $1", [task]);
      const report = await fetch(`${h.a.server.url}/v1/agents/tasks/${task}/progress`, {
        method: "POST",
        headers: { authorization: `Bearer ${agentToken}`, "content-type": "application/json" },
        body: JSON.stringify({ bytesDone: 3_000_000_000, bytesTotal: 5_000_000_000, bytesPerSecond: 1_000_000.5 }),
      });
      expect(report.status).toBe(200);
      expect(await report.json()).toMatchObject({ action: "continue", settings: { bandwidthKBps: 4882 } });
      const job = await h.b.call("GET", `/v1/jobs/${jobId}`);
      expect(job.body["Transfer"]).toEqual({ BytesDone: 3_000_000_000, BytesTotal: 5_000_000_000, Speed: 1_000_000.5, TimeRemainingSeconds: 2000 });
    });

    it("a finished copy's report of what changed on the source shows on the job as ChangedDuringCopy", async () => {
      const { sourceId, agentToken } = await h.newSource();
      const { jobId } = await h.createJob({ SourceId: sourceId });
      expect((await h.a.call("GET", `/v1/jobs/${jobId}`)).body["ChangedDuringCopy"]).toBeNull();
      await h.db.query("update replication_jobs set business_status = 'Syncing', current_run = 1 where job_id = $1", [jobId]);
      const task = await createTask(h.db, { jobId, sourceId, run: 1 }, { kind: "transfer", disks: [] });
      await h.db.query("update agent_tasks set state = 'running' where task_id = $1", [task]);
      const disks = [
        { disk: "system", appeared: 3, vanished: 1, changed: 1, paths: [{ change: "appeared", path: "/srv/new", dir: true }, { change: "vanished", path: "/tmp/x" }, { change: "changed", path: "/var/log/syslog", bytesBefore: 10, bytesAfter: 99 }] },
        { disk: "disk1", appeared: 0, vanished: 0, changed: 2, paths: [{ change: "changed", path: "/data/db", bytesBefore: 5, bytesAfter: 5 }] },
      ];
      const post = (body: unknown) =>
        fetch(`${h.a.server.url}/v1/agents/tasks/${task}/result`, { method: "POST", headers: { authorization: `Bearer ${agentToken}`, "content-type": "application/json" }, body: JSON.stringify(body) });
      // A report that breaks the bounds is refused and changes nothing.
      const tooMany = await post({ ok: true, changedDuringCopy: [{ ...disks[0], paths: Array.from({ length: 101 }, () => disks[0]!.paths[0]) }] });
      expect(tooMany.status).toBe(400);
      expect((await h.a.call("GET", `/v1/jobs/${jobId}`)).body["ChangedDuringCopy"]).toBeNull();
      expect((await post({ ok: true, bytesTotal: 1000, changedDuringCopy: disks })).status).toBe(200);
      const job = await h.b.call("GET", `/v1/jobs/${jobId}`);
      expect(job.body["ChangedDuringCopy"]).toEqual({
        Run: 1,
        Appeared: 3,
        Vanished: 1,
        Changed: 3,
        Disks: [
          {
            Disk: "system",
            Appeared: 3,
            Vanished: 1,
            Changed: 1,
            Paths: [
              { Change: "appeared", Path: "/srv/new", Dir: true, BytesBefore: null, BytesAfter: null },
              { Change: "vanished", Path: "/tmp/x", Dir: false, BytesBefore: null, BytesAfter: null },
              { Change: "changed", Path: "/var/log/syslog", Dir: false, BytesBefore: 10, BytesAfter: 99 },
            ],
          },
          { Disk: "disk1", Appeared: 0, Vanished: 0, Changed: 2, Paths: [{ Change: "changed", Path: "/data/db", Dir: false, BytesBefore: 5, BytesAfter: 5 }] },
        ],
      });
    });

    it("stopping while the image is made is refused and says why", async () => {
      const { jobId } = await jobIn(["Running", "Processing"]);
      const r = await h.a.call("POST", `/v1/jobs/${jobId}/stop`);
      expect(r).toMatchObject({ status: 400, body: { code: "ReplicationJob.InvalidStatus", message: expect.stringContaining("Running (Processing)"), fix: expect.stringContaining("cancel") } });
    });

    it("deleting a running job is refused with a fix that says to stop or cancel it first", async () => {
      const { jobId } = await h.createJob();
      const r = await h.a.call("DELETE", `/v1/jobs/${jobId}`);
      expect(r).toMatchObject({ status: 400, body: { code: "ReplicationJob.InvalidStatus", message: expect.stringContaining("Running") } });
      expect(r.body["fix"]).toMatch(/stop.*cancel/i);
    });

    it("start sets StartTime and Preparing on a job that never ran, and clears the last error", async () => {
      const { jobId } = await jobIn(["Ready", null]);
      const r = await h.a.call("POST", `/v1/jobs/${jobId}/start`);
      expect(r.body).toMatchObject({ Status: "Running", BusinessStatus: "Preparing" });
      expect(Math.abs(new Date(r.body["StartTime"] as string).getTime() - Date.now())).toBeLessThan(60_000);
      await h.db.query("update replication_jobs set status = 'InError', error_code = 'Receiver.DiskFull', error_message = 'no space', error_fix = 'grow the disk' where job_id = $1", [jobId]);
      expect((await h.a.call("GET", `/v1/jobs/${jobId}`)).body).toMatchObject({ ErrorCode: "Receiver.DiskFull", ErrorMessage: "no space", ErrorFix: "grow the disk" });
      expect((await h.a.call("POST", `/v1/jobs/${jobId}/start`)).body).toMatchObject({ Status: "Running", BusinessStatus: "Preparing", ErrorCode: null, ErrorMessage: null, ErrorFix: null });
    });

    it("a scheduled job stopped before its time loses its NextRunTime, and start runs it now", async () => {
      const { jobId } = await h.createJob({ ExecutionMethod: "Scheduled", ScheduledStartTime: new Date(Date.now() + 3600_000).toISOString() });
      expect((await h.a.call("POST", `/v1/jobs/${jobId}/stop`)).body).toMatchObject({ Status: "Stopped", NextRunTime: null });
      expect((await h.a.call("POST", `/v1/jobs/${jobId}/start`)).body).toMatchObject({ Status: "Running", BusinessStatus: "Preparing", NextRunTime: null });
      expect(h.starts(jobId).map((s) => s.at === undefined)).toEqual([false, true]);
    });

    it("cancel stops the agent's tasks and marks the job Deleting until the release is done, which frees the source", async () => {
      const { jobId, sourceId } = await h.createJob();
      const task = await createTask(h.db, { jobId, sourceId, run: 1 }, { kind: "inventory", paths: [], bootMode: "auto" });
      h.a.work.holdReleases = true;
      try {
        const r = await h.a.call("POST", `/v1/jobs/${jobId}/cancel`);
        expect(r).toMatchObject({ status: 200, body: { JobId: jobId, Status: "Deleting" } });
      } finally {
        h.a.work.holdReleases = false;
      }
      expect(h.releases(jobId)).toEqual([jobId]);
      expect((await h.db.query<{ state: string }>("select state from agent_tasks where task_id = $1", [task]))[0]?.state).toBe("cancelled");
      expect((await h.a.call("GET", `/v1/jobs/${jobId}`)).body["Status"]).toBe("Deleting");
      expect(await sourceState(h, sourceId)).toBe("InUse");
      expect((await h.a.call("POST", `/v1/jobs/${jobId}/cancel`)).body["code"]).toBe("ReplicationJob.InvalidStatus");
      await finishRelease(h.db, jobId);
      expect((await h.a.call("GET", `/v1/jobs/${jobId}`)).status).toBe(404);
      expect(await sourceState(h, sourceId)).toBe("Available");
    });

    it("a cancelled job whose source went offline leaves the source Unavailable, not Available", async () => {
      const { jobId, sourceId } = await h.createJob();
      h.a.work.holdReleases = true;
      try {
        expect((await h.a.call("POST", `/v1/jobs/${jobId}/cancel`)).status).toBe(200);
      } finally {
        h.a.work.holdReleases = false;
      }
      await h.db.query("update sources set error_code = 'SourceServer.Offline' where source_id = $1", [sourceId]);
      await finishRelease(h.db, jobId);
      expect(await sourceState(h, sourceId)).toBe("Unavailable");
    });

    describe("modify", () => {
      const version = async (jobId: string) => (await h.db.query<{ v: number }>("select settings_version as v from replication_jobs where job_id = $1", [jobId]))[0]?.v;

      it("a changed transfer setting bumps the settings version once; names, tags and unchanged values do not", async () => {
        const { jobId } = await h.createJob({ RateLimit: 100 });
        const v0 = await version(jobId);
        const renamed = await h.a.call("POST", `/v1/jobs/${jobId}/modify`, { Name: "web nightly", Description: "before the move", Tags: [{ Key: "team", Value: "ops" }] });
        expect(renamed).toMatchObject({ status: 200, body: { Name: "web nightly", Description: "before the move", Tags: [{ Key: "team", Value: "ops" }], RateLimit: 100 } });
        expect(await version(jobId)).toBe(v0);
        await h.a.call("POST", `/v1/jobs/${jobId}/modify`, { RateLimit: 100 });
        expect(await version(jobId)).toBe(v0);
        const changed = await h.b.call("POST", `/v1/jobs/${jobId}/modify`, { RateLimit: 0, CompressLevel: 3, Checksum: true });
        expect(changed.body).toMatchObject({ RateLimit: 0, CompressLevel: 3, Checksum: true, Name: "web nightly" });
        expect(await version(jobId)).toBe((v0 ?? 0) + 1);
        const validTime = new Date(Date.now() + 86_400_000).toISOString();
        expect((await h.a.call("POST", `/v1/jobs/${jobId}/modify`, { ValidTime: validTime })).body["ValidTime"]).toBe(validTime);
      });

      it("Frequency and MaxNumberOfImageToKeep change only on periodic jobs", async () => {
        const once = await h.createJob();
        expect(await h.a.call("POST", `/v1/jobs/${once.jobId}/modify`, { Frequency: 12 })).toMatchObject({ status: 400, body: { code: "ReplicationJob.NotPeriodic" } });
        expect(await h.a.call("POST", `/v1/jobs/${once.jobId}/modify`, { MaxNumberOfImageToKeep: 3 })).toMatchObject({ status: 400, body: { code: "ReplicationJob.NotPeriodic" } });
        const periodic = await h.createJob({ RunOnce: false, Frequency: 24 });
        expect(await h.a.call("POST", `/v1/jobs/${periodic.jobId}/modify`, { Frequency: 12, MaxNumberOfImageToKeep: 3 })).toMatchObject({ status: 200, body: { Frequency: 12, MaxNumberOfImageToKeep: 3 } });
      });

      it("a new Frequency on a waiting periodic job moves its next run: that many hours after the last run ended", async () => {
        const { jobId } = await h.createJob({ RunOnce: false, Frequency: 24 });
        const ended = new Date(Date.now() - 2 * 3600_000);
        await h.db.query("update replication_jobs set status = 'Waiting', business_status = null, ended_at = $2, next_run_at = $3 where job_id = $1", [
          jobId,
          ended,
          new Date(ended.getTime() + 24 * 3600_000),
        ]);
        const r = await h.a.call("POST", `/v1/jobs/${jobId}/modify`, { Frequency: 6 });
        expect(r).toMatchObject({ status: 200, body: { Status: "Waiting", Frequency: 6 } });
        expect(new Date(r.body["NextRunTime"] as string).getTime()).toBe(ended.getTime() + 6 * 3600_000);
        // Changing something else leaves the schedule alone.
        const again = await h.a.call("POST", `/v1/jobs/${jobId}/modify`, { Name: "renamed", Frequency: 6 });
        expect(again.body["NextRunTime"]).toBe(r.body["NextRunTime"]);
      });

      const invalid: [string, unknown, string][] = [
        ["an empty Name", { Name: "" }, "ReplicationJob.InvalidName"],
        ["a Description of 257 characters", { Description: "d".repeat(257) }, "ReplicationJob.InvalidDescription"],
        ["RateLimit -1", { RateLimit: -1 }, "ReplicationJob.InvalidRateLimit"],
        ["CompressLevel 11", { CompressLevel: 11 }, "ReplicationJob.InvalidCompressLevel"],
        ["Checksum as text", { Checksum: "on" }, "ReplicationJob.InvalidChecksum"],
        ["Frequency 169", { Frequency: 169 }, "ReplicationJob.InvalidFrequency"],
        ["MaxNumberOfImageToKeep 11", { MaxNumberOfImageToKeep: 11 }, "ReplicationJob.InvalidMaxNumberOfImageToKeep"],
        ["a ValidTime in the past", { ValidTime: "2020-01-01T00:00:00Z" }, "ReplicationJob.InvalidValidTime"],
        ["21 tags", { Tags: Array.from({ length: 21 }, (_, i) => ({ Key: `k${i}` })) }, "ReplicationJob.InvalidTags"],
        ["a field that cannot change", { ImageName: "other" }, "Api.InvalidBody"],
        ["an empty body", {}, "Api.InvalidBody"],
      ];
      for (const [what, body, code] of invalid) {
        it(`refuses ${what} with 400 ${code}`, async () => {
          const { jobId } = await h.createJob({ RunOnce: false, Frequency: 24, ExecutionMethod: "CreateOnly" });
          const v0 = await version(jobId);
          expect(await h.a.call("POST", `/v1/jobs/${jobId}/modify`, body)).toMatchObject({ status: 400, body: { code, fix: expect.any(String) } });
          expect(await version(jobId)).toBe(v0);
        });
      }
    });

    describe("expiry", () => {
      const pastValidTime = (jobId: string) =>
        h.db.query("update replication_jobs set settings = jsonb_set(settings, '{ValidTime}', to_jsonb('2020-01-01T00:00:00.000Z'::text)) where job_id = $1", [jobId]);

      it("a job whose ValidTime passed while it waited is Expired, its tasks cancelled and its source free; a Running one runs on", async () => {
        const stopped = await jobIn(["Stopped", "Syncing"]);
        const task = await createTask(h.db, { jobId: stopped.jobId, sourceId: stopped.sourceId, run: 1 }, { kind: "inventory", paths: [], bootMode: "auto" });
        const running = await jobIn(["Running", "Syncing"]);
        await pastValidTime(stopped.jobId);
        await pastValidTime(running.jobId);
        const seen = (await h.a.call("GET", `/v1/jobs/${stopped.jobId}`)).body;
        expect(seen).toMatchObject({ Status: "Expired", StatusInfo: expect.stringContaining("ValidTime") });
        expect(seen["EndTime"]).not.toBeNull();
        expect((await h.db.query<{ state: string }>("select state from agent_tasks where task_id = $1", [task]))[0]?.state).toBe("cancelled");
        expect(await sourceState(h, stopped.sourceId)).toBe("Available");
        expect((await h.a.call("GET", `/v1/jobs/${running.jobId}`)).body["Status"]).toBe("Running");
        expect(await sourceState(h, running.sourceId)).toBe("InUse");
        expect(await expireJobs(h.db)).toBe(0);
        // The freed source takes a new job.
        expect((await h.a.call("POST", "/v1/jobs", { SourceId: stopped.sourceId, ExecutionMethod: "CreateOnly" })).status).toBe(201);
      });

      it("the server's periodic sweep expires jobs nobody looks at", async () => {
        const { jobId, sourceId } = await jobIn(["Waiting", null]);
        await pastValidTime(jobId);
        let status: string | undefined;
        for (let i = 0; i < 100 && status !== "Expired"; i++) {
          await new Promise((r) => setTimeout(r, 100));
          status = (await statusOf(h, jobId))?.status;
        }
        expect(status).toBe("Expired");
        expect((await h.db.query<{ state: string }>("select state from sources where source_id = $1", [sourceId]))[0]?.state).toBe("Available");
      });

      it("a job past its ValidTime cannot be started", async () => {
        const { jobId } = await jobIn(["Stopped", "Syncing"]);
        await pastValidTime(jobId);
        expect(await h.a.call("POST", `/v1/jobs/${jobId}/start`)).toMatchObject({ status: 400, body: { code: "ReplicationJob.InvalidStatus", message: expect.stringContaining("Expired") } });
      });
    });

    describe("the job as the API shows it", () => {
      it("Progress and time remaining follow the copy; Processing and Finished mark the later stages", async () => {
        const { jobId } = await h.createJob();
        const show = async () => (await h.a.call("GET", `/v1/jobs/${jobId}`)).body;
        await h.db.query("update replication_jobs set business_status = 'Syncing', bytes_done = 250, bytes_total = 1000, speed_bps = 50 where job_id = $1", [jobId]);
        expect(await show()).toMatchObject({ Progress: 22, Transfer: { BytesDone: 250, BytesTotal: 1000, Speed: 50, TimeRemainingSeconds: 15 } });
        await h.db.query("update replication_jobs set bytes_done = 1000, speed_bps = 0 where job_id = $1", [jobId]);
        expect(await show()).toMatchObject({ Progress: 90, Transfer: { TimeRemainingSeconds: null } });
        await h.db.query("update replication_jobs set business_status = 'Processing' where job_id = $1", [jobId]);
        expect((await show())["Progress"]).toBe(90);
        await h.setStatus(jobId, "Finished");
        expect((await show())["Progress"]).toBe(100);
      });

      it("a job shows its images by run, the newest as ImageId; GET /v1/images lists every job's images", async () => {
        const a = await h.createJob({ RunOnce: false, Frequency: 1, ImageName: "nightly" });
        const b = await h.createJob({ ImageName: "once" });
        const insert = (jobId: string, name: string, run: number, verification: string, boot: number | null) =>
          h.db.query("insert into job_images (job_id, image_name, region_id, run, verification, boot_seconds) values ($1, $2, 'test-region-1', $3, $4, $5)", [jobId, name, run, verification, boot]);
        await insert(a.jobId, "nightly-r2", 2, "skipped", null);
        await insert(a.jobId, "nightly-r1", 1, "booted", 41.5);
        await insert(b.jobId, "once", 1, "failed", null);
        const shown = (await h.a.call("GET", `/v1/jobs/${a.jobId}`)).body;
        expect(shown["ImageId"]).toBe("nightly-r2");
        expect(shown["Images"]).toEqual([
          { ImageName: "nightly-r1", RegionId: "test-region-1", Run: 1, CreationTime: expect.any(String), Verification: "booted", BootSeconds: 41.5 },
          { ImageName: "nightly-r2", RegionId: "test-region-1", Run: 2, CreationTime: expect.any(String), Verification: "skipped", BootSeconds: null },
        ]);
        const all = (await h.a.call("GET", "/v1/images")).body["images"] as { JobId: string; ImageName: string }[];
        expect(all.filter((i) => [a.jobId, b.jobId].includes(i.JobId)).map((i) => `${i.JobId}:${i.ImageName}`).sort()).toEqual(
          [`${a.jobId}:nightly-r1`, `${a.jobId}:nightly-r2`, `${b.jobId}:once`].sort(),
        );
        const one = (await h.a.call("GET", `/v1/images?jobId=${b.jobId}`)).body["images"];
        expect(one).toEqual([expect.objectContaining({ JobId: b.jobId, ImageName: "once", Verification: "failed" })]);
        // Images outlive their job.
        await h.setStatus(b.jobId, "Finished");
        expect((await h.a.call("DELETE", `/v1/jobs/${b.jobId}`)).status).toBe(202);
        expect((await h.a.call("GET", `/v1/images?jobId=${b.jobId}`)).body["images"]).toHaveLength(1);
      });

      it("lists jobs newest first with filters and paging, and a source's own jobs", async () => {
        const tag = `list-${Date.now().toString(36)}`;
        const one = await h.createJob({ Name: `${tag} Alpha_1`, ExecutionMethod: "CreateOnly" });
        const two = await h.createJob({ Name: `${tag} beta%2`, ExecutionMethod: "CreateOnly" });
        const three = await h.createJob({ Name: `${tag} gamma`, ExecutionMethod: "CreateOnly" });
        await h.setStatus(three.jobId, "Stopped", "Syncing");
        const names = async (q: string) => ((await h.a.call("GET", `/v1/jobs?${q}`)).body["jobs"] as { Name: string }[]).map((j) => j.Name);
        expect(await names(`name=${encodeURIComponent(tag.toUpperCase())}`)).toEqual([`${tag} gamma`, `${tag} beta%2`, `${tag} Alpha_1`]);
        expect(await names(`name=${encodeURIComponent(`${tag} beta%`)}`)).toEqual([`${tag} beta%2`]);
        expect(await names(`name=${encodeURIComponent("a_1")}`)).toContain(`${tag} Alpha_1`);
        expect(await names(`name=${encodeURIComponent(tag)}&status=Stopped`)).toEqual([`${tag} gamma`]);
        expect(await names(`sourceId=${two.sourceId}`)).toEqual([`${tag} beta%2`]);
        const page = (await h.a.call("GET", `/v1/jobs?name=${tag}&limit=2&offset=1`)).body;
        expect(page["total"]).toBe(3);
        expect((page["jobs"] as { JobId: string }[]).map((j) => j.JobId)).toEqual([two.jobId, one.jobId]);
        expect(await h.b.call("GET", `/v1/sources/${one.sourceId}/jobs`)).toMatchObject({ status: 200, body: { total: 1, jobs: [{ JobId: one.jobId }] } });
        expect(await h.a.call("GET", "/v1/sources/s-nothing/jobs")).toMatchObject({ status: 404, body: { code: "SourceServer.NotFound" } });
      });

      const badFilters: [string, string][] = [
        ["status=Paused", "ReplicationJob.InvalidStatusFilter"],
        ["status=", "ReplicationJob.InvalidStatusFilter"],
        ["name=", "ReplicationJob.InvalidNameFilter"],
        [`name=${"n".repeat(129)}`, "ReplicationJob.InvalidNameFilter"],
        ["sourceId=", "Api.InvalidParameter"],
        ["limit=0", "Api.InvalidParameter"],
        ["limit=1001", "Api.InvalidParameter"],
        ["offset=-1", "Api.InvalidParameter"],
      ];
      for (const [query, code] of badFilters) {
        it(`refuses ?${query.slice(0, 20)} with 400 ${code}`, async () => {
          expect(await h.a.call("GET", `/v1/jobs?${query}`)).toMatchObject({ status: 400, body: { code } });
        });
      }

      it("every job endpoint is in the OpenAPI document with the error codes it answers", async () => {
        const doc = (await (await fetch(`${h.a.server.url}/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, { "x-error-codes"?: string[] }>> };
        const codes = (path: string, method: string) => doc.paths[path]?.[method]?.["x-error-codes"] ?? [];
        expect(codes("/v1/jobs", "post")).toEqual(expect.arrayContaining(["ReplicationJob.InvalidImageName", "ReplicationJob.SourceBusy", "SourceServerState.Invalid", "SourceServer.NotFound"]));
        for (const action of ["start", "stop", "retry", "cancel"]) expect(codes(`/v1/jobs/{jobId}/${action}`, "post")).toEqual(["ReplicationJob.NotFound", "ReplicationJob.InvalidStatus"]);
        expect(codes("/v1/jobs/{jobId}/modify", "post")).toEqual(expect.arrayContaining(["ReplicationJob.InvalidStatus", "ReplicationJob.NotPeriodic", "ReplicationJob.InvalidRateLimit"]));
        expect(codes("/v1/jobs/{jobId}", "delete")).toContain("ReplicationJob.InvalidStatus");
        expect(codes("/v1/jobs/{jobId}", "get")).toEqual(["ReplicationJob.NotFound"]);
        expect(doc.paths["/v1/images"]?.["get"]).toBeDefined();
      });
    });

    describe("two replicas acting on one job at once", () => {
      it("two starts: exactly one wins and one job start is queued", async () => {
        for (let round = 0; round < 8; round++) {
          const { jobId } = await jobIn(["Ready", null]);
          const replies = await Promise.all([h.a.call("POST", `/v1/jobs/${jobId}/start`), h.b.call("POST", `/v1/jobs/${jobId}/start`)]);
          expect(replies.map((r) => r.status).sort()).toEqual([200, 400]);
          expect(replies.find((r) => r.status === 400)?.body).toMatchObject({ code: "ReplicationJob.InvalidStatus", message: expect.stringContaining("Running") });
          expect(h.starts(jobId)).toHaveLength(1);
        }
      });

      it("two stops: exactly one wins", async () => {
        for (let round = 0; round < 8; round++) {
          const { jobId } = await jobIn(["Running", "Syncing"]);
          const replies = await Promise.all([h.a.call("POST", `/v1/jobs/${jobId}/stop`), h.b.call("POST", `/v1/jobs/${jobId}/stop`)]);
          expect(replies.map((r) => r.status).sort()).toEqual([200, 400]);
          expect(replies.find((r) => r.status === 400)?.body["message"]).toContain("Stopped");
        }
      });

      it("a start racing a cancel: the job ends either running or gone, never both", async () => {
        for (let round = 0; round < 8; round++) {
          const { jobId, sourceId } = await jobIn(["Stopped", "Syncing"]);
          const [start, cancel] = await Promise.all([h.a.call("POST", `/v1/jobs/${jobId}/start`), h.b.call("POST", `/v1/jobs/${jobId}/cancel`)]);
          expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
          expect(await statusOf(h, jobId)).toBeNull();
          expect(await sourceState(h, sourceId)).toBe("Available");
          expect(h.starts(jobId)).toHaveLength(start.status === 200 ? 1 : 0);
        }
      });
    });
  });
}

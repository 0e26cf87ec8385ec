// What a user can do to a job: start (or retry), stop, modify, delete, cancel.
// Each one is a single conditional UPDATE (… where status = any(allowed)) or
// a locked read in a transaction, so when two replicas or two clicks race,
// exactly one wins and the other sees the job already moved on.
import { HoistError, type JobStatus, type ReplicationJob } from "@hoist/protocol";
import type { Database, Queryable } from "../db/database";
import { json } from "../store/rows";
import { cancelJobTasks } from "./agent-tasks";
import { expireJobs, getJob, imagesOf, jobNotFound, mustGetJob, startWork } from "./store";
import type { JobChanges } from "./validate";
import { type JobRow, toJob } from "./view";
import type { JobWork } from "./work";

const STARTABLE: JobStatus[] = ["Ready", "Stopped", "InError", "Waiting"];
const DELETABLE: JobStatus[] = ["Ready", "Stopped", "InError", "Finished", "Expired", "Waiting"];
const CANCELLABLE: JobStatus[] = ["Ready", "Running", "Stopped", "InError", "Waiting", "Expired"];
/** No more runs will come: their transfer settings and schedule no longer mean anything. */
const CLOSED: JobStatus[] = ["Finished", "Expired", "Deleting"];

function describe(r: Pick<JobRow, "status" | "business_status">): string {
  return r.business_status && (r.status === "Running" || r.status === "Stopped" || r.status === "InError") ? `${r.status} (${r.business_status})` : r.status;
}

function invalidStatus(jobId: string, r: Pick<JobRow, "status" | "business_status">, what: string, fix: string): HoistError {
  return new HoistError("ReplicationJob.InvalidStatus", `replication job ${jobId} is ${describe(r)}: ${what}`, { fix, details: { status: r.status, businessStatus: r.business_status } });
}

/** The job as it is now, or as this call left it when it is gone already (deleted by a racing cancel). */
async function latest(db: Queryable, row: JobRow): Promise<ReplicationJob> {
  return (await getJob(db, row.job_id)) ?? toJob(row, await imagesOf(db, [row.job_id]));
}

/** The job's current row, for explaining why a conditional UPDATE took nothing. */
async function current(db: Queryable, jobId: string): Promise<JobRow> {
  const rows = await db.query<JobRow>("select * from replication_jobs where job_id = $1", [jobId]);
  if (!rows[0]) throw jobNotFound(jobId);
  return rows[0];
}

// Cancelled agent tasks answer the agent's next progress report with "stop".
const cancelAgentTasks = cancelJobTasks;

async function run(db: Database, work: JobWork, jobId: string, from: JobStatus[], action: string): Promise<ReplicationJob> {
  // A job past its ValidTime is Expired, not startable.
  await expireJobs(db);
  const moved = await db.query<JobRow>(
    `update replication_jobs set status = 'Running', business_status = coalesce(business_status, 'Preparing'),
       error_code = null, error_message = null, error_fix = null, status_info = null,
       started_at = coalesce(started_at, now()), ended_at = null, next_run_at = null, updated_at = now()
     where job_id = $1 and status = any($2::text[])
     returning *`,
    [jobId, from],
  );
  if (!moved[0]) {
    const r = await current(db, jobId);
    const hint: Partial<Record<JobStatus, string>> = {
      Running: "It is running already.",
      Finished: "It is done: create a new job for the source to migrate it again.",
      Expired: "Its ValidTime has passed: create a new job.",
      Deleting: "It is being deleted.",
    };
    throw invalidStatus(jobId, r, `${action} needs a job that is ${from.join(", ")}`, hint[r.status] ?? `${action[0]?.toUpperCase()}${action.slice(1)} works on a job that is ${from.join(" or ")}.`);
  }
  // The agent task that failed is spent: the job hands out a new one where it stopped.
  await db.query("update agent_tasks set state = 'cancelled', updated_at = now() where job_id = $1 and state = 'failed'", [jobId]);
  await startWork(db, work, jobId);
  return latest(db, moved[0]);
}

/** StartReplicationJob: runs a Ready job, resumes a Stopped one, retries an InError one, runs a Waiting one now. */
export function startJob(db: Database, work: JobWork, jobId: string): Promise<ReplicationJob> {
  return run(db, work, jobId, STARTABLE, "starting");
}

/** Retry Migration: an InError job runs again from where it stopped. */
export function retryJob(db: Database, work: JobWork, jobId: string): Promise<ReplicationJob> {
  return run(db, work, jobId, ["InError"], "retrying");
}

/**
 * Pauses a job while it copies (Running in Preparing or Syncing), or a Waiting
 * one before its next run. Making the image (Processing, Cleaning) cannot be
 * paused. The job's agent tasks are cancelled.
 */
export async function stopJob(db: Database, jobId: string): Promise<ReplicationJob> {
  const moved = await db.transaction(async (tx) => {
    const rows = await tx.query<JobRow>(
      `update replication_jobs set status = 'Stopped', speed_bps = 0, next_run_at = null, updated_at = now(),
         business_status = case when status = 'Running' then coalesce(business_status, 'Preparing') else business_status end
       where job_id = $1 and (status = 'Waiting' or (status = 'Running' and coalesce(business_status, 'Preparing') in ('Preparing', 'Syncing')))
       returning *`,
      [jobId],
    );
    if (rows[0]) await cancelAgentTasks(tx, jobId);
    return rows[0] ?? null;
  });
  if (!moved) {
    const r = await current(db, jobId);
    if (r.status === "Running") {
      throw invalidStatus(jobId, r, "the image is being made, which cannot be paused", "Wait for the job to finish, or cancel it (which deletes it).");
    }
    throw invalidStatus(jobId, r, "only a Running job (Preparing or Syncing) or a Waiting one can be stopped", r.status === "Stopped" ? "It is stopped already." : "There is nothing to stop.");
  }
  return latest(db, moved);
}

const TRANSFER_FIELDS = ["RateLimit", "CompressLevel", "Checksum"] as const;
const PERIODIC_FIELDS = ["Frequency", "MaxNumberOfImageToKeep"] as const;

/**
 * ModifyReplicationJobAttribute. Name, Description and Tags change in any
 * Status but Deleting; transfer settings, the schedule and ValidTime only
 * while runs can still come. A changed transfer setting bumps
 * settings_version, which tells the agent to restart its copy with it.
 */
export async function modifyJob(db: Database, jobId: string, changes: JobChanges): Promise<ReplicationJob> {
  await db.transaction(async (tx) => {
    const rows = await tx.query<JobRow>("select * from replication_jobs where job_id = $1 for update", [jobId]);
    const row = rows[0];
    if (!row) throw jobNotFound(jobId);
    const settings = json<Record<string, unknown>>(row.settings);
    const named = Object.keys(changes) as (keyof JobChanges)[];
    const periodic = named.filter((k) => (PERIODIC_FIELDS as readonly string[]).includes(k));
    if (periodic.length && settings["RunOnce"] !== false) {
      throw new HoistError("ReplicationJob.NotPeriodic", `replication job ${jobId} runs once, so ${periodic.join(" and ")} do not apply to it`, {
        fix: "Leave them out; to sync every few hours, create a job with RunOnce false and a Frequency.",
      });
    }
    if (row.status === "Deleting") throw invalidStatus(jobId, row, "a job being deleted cannot be changed", "There is nothing left to change.");
    const late = named.filter((k) => k !== "Name" && k !== "Description" && k !== "Tags");
    if (late.length && CLOSED.includes(row.status)) {
      throw invalidStatus(jobId, row, `${late.join(", ")} can change only while the job can still run`, "Only Name, Description and Tags change on a Finished or Expired job.");
    }
    const next: Record<string, unknown> = { ...settings };
    for (const k of named) if (k !== "Name" && k !== "Description") next[k] = changes[k];
    const transferChanged = TRANSFER_FIELDS.some((k) => changes[k] !== undefined && changes[k] !== settings[k]);
    // A waiting periodic job's next run moves with its Frequency: it comes that
    // many hours after the last run ended (the wait so far scaled new/old).
    const oldFrequency = Number(settings["Frequency"]);
    const rescale = row.status === "Waiting" && changes.Frequency !== undefined && changes.Frequency !== oldFrequency && oldFrequency > 0 ? changes.Frequency / oldFrequency : 1;
    await tx.query(
      `update replication_jobs set name = $2, description = $3, settings = $4::jsonb,
         settings_version = settings_version + $5,
         next_run_at = case when $6::float8 <> 1 and next_run_at is not null and ended_at is not null
                            then ended_at + (next_run_at - ended_at) * $6::float8 else next_run_at end,
         updated_at = now()
       where job_id = $1`,
      [jobId, changes.Name ?? row.name, changes.Description ?? row.description, JSON.stringify(next), transferChanged ? 1 : 0, rescale],
    );
  });
  return mustGetJob(db, jobId);
}

/** Marks the job Deleting (cancelling its agent tasks) if its Status is one of `from`: the job as it is then, or null. */
async function markDeleting(db: Database, jobId: string, from: JobStatus[]): Promise<ReplicationJob | null> {
  return db.transaction(async (tx) => {
    const rows = await tx.query<JobRow>(
      "update replication_jobs set status = 'Deleting', speed_bps = 0, next_run_at = null, updated_at = now() where job_id = $1 and status = any($2::text[]) returning *",
      [jobId, from],
    );
    const row = rows[0];
    if (!row) return null;
    await cancelAgentTasks(tx, jobId);
    return toJob(row, await imagesOf(tx, [jobId]));
  });
}

/**
 * DeleteReplicationJob: a job that is not running becomes Deleting, and the
 * background work releases its intermediate instance and removes it. A job
 * already Deleting is handed to the release again (it may have failed).
 */
export async function deleteJob(db: Database, work: JobWork, jobId: string): Promise<{ JobId: string; Status: "Deleting" }> {
  if (!(await markDeleting(db, jobId, DELETABLE))) {
    const r = await current(db, jobId);
    if (r.status !== "Deleting") {
      throw invalidStatus(jobId, r, "a running job cannot be deleted", "Stop the job (POST /v1/jobs/{jobId}/stop) or cancel it (POST /v1/jobs/{jobId}/cancel) first.");
    }
  }
  await work.release(jobId);
  return { JobId: jobId, Status: "Deleting" };
}

/**
 * CancelReplicationJob: stops whatever the job does, releases its
 * intermediate instance and deletes it. Answers the job as it was marked
 * Deleting (it may be gone by the time the caller looks again).
 */
export async function cancelJob(db: Database, work: JobWork, jobId: string): Promise<ReplicationJob> {
  const job = await markDeleting(db, jobId, CANCELLABLE);
  if (!job) {
    const r = await current(db, jobId);
    throw invalidStatus(
      jobId,
      r,
      r.status === "Finished" ? "a finished job has nothing to cancel" : "it is being deleted already",
      r.status === "Finished" ? "Delete it instead (DELETE /v1/jobs/{jobId}); its images stay." : "Wait until it is gone.",
    );
  }
  await work.release(jobId);
  return job;
}

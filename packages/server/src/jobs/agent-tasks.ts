// Work the control plane hands to a source's `hoist agent`: read the source
// (inventory) or copy it to the intermediate instance (transfer). A task is
// created by the orchestrator, handed out with the agent's heartbeat, reported
// on by the agent, and ends done, failed or cancelled (job paused or deleted).
// Transfer tasks carry a receiver token minted at hand-out time: it travels to
// the agent over TLS and is never stored here.
import { randomBytes } from "node:crypto";
import { type AgentTask, HoistError, type InventoryTask, type TaskProgressRequest, type TaskProgressResponse, type TaskResultRequest, type TransferSettings, type TransferTask } from "@hoist/protocol";
import type { Queryable } from "../db/database";
import { json } from "../store/rows";

export type TaskState = "pending" | "running" | "done" | "failed" | "cancelled";
export type TaskKind = AgentTask["kind"];

export interface TaskRow extends Record<string, unknown> {
  task_id: string;
  job_id: string;
  source_id: string;
  run: number;
  kind: TaskKind;
  payload: unknown;
  state: TaskState;
  result: unknown;
}

/** What a task asks for, without the parts filled in at hand-out (ids, token, current settings). */
export type TaskPayload = Omit<InventoryTask, "taskId" | "jobId"> | { kind: "transfer"; disks: TransferTask["disks"] };

export async function createTask(db: Queryable, job: { jobId: string; sourceId: string; run: number }, payload: TaskPayload): Promise<string> {
  const taskId = `t-${randomBytes(8).toString("hex")}`;
  await db.query("insert into agent_tasks (task_id, job_id, source_id, run, kind, payload, state) values ($1, $2, $3, $4, $5, $6::jsonb, 'pending')", [
    taskId,
    job.jobId,
    job.sourceId,
    job.run,
    payload.kind,
    JSON.stringify(payload),
  ]);
  return taskId;
}

/** The newest task of a kind for a job's run, if any. */
export async function latestTask(db: Queryable, jobId: string, run: number, kind: TaskKind): Promise<TaskRow | null> {
  const rows = await db.query<TaskRow>("select * from agent_tasks where job_id = $1 and run = $2 and kind = $3 order by created_at desc, task_id limit 1", [jobId, run, kind]);
  return rows[0] ?? null;
}

export async function cancelJobTasks(db: Queryable, jobId: string): Promise<number> {
  const rows = await db.query("update agent_tasks set state = 'cancelled', updated_at = now() where job_id = $1 and state in ('pending', 'running') returning task_id", [jobId]);
  return rows.length;
}

/** Tasks to hand to a source's agent now: open ones it does not say it is running. */
export async function openTasksFor(db: Queryable, sourceId: string, runningTaskIds: readonly string[]): Promise<TaskRow[]> {
  return db.query<TaskRow>(
    `select * from agent_tasks where source_id = $1 and state in ('pending', 'running') and not (task_id = any($2::text[]))
     order by created_at, task_id limit 4`,
    [sourceId, [...runningTaskIds]],
  );
}

export async function markDelivered(db: Queryable, taskId: string): Promise<void> {
  await db.query("update agent_tasks set state = 'running', delivered_at = now(), updated_at = now() where task_id = $1 and state in ('pending', 'running')", [taskId]);
}

export function taskNotFound(taskId: string): HoistError {
  return new HoistError("AgentTask.NotFound", `no task ${taskId} for this source`, { fix: "The job was deleted; the agent drops the task." });
}

export async function taskOfSource(db: Queryable, taskId: string, sourceId: string): Promise<TaskRow | null> {
  const rows = await db.query<TaskRow>("select * from agent_tasks where task_id = $1 and source_id = $2", [taskId, sourceId]);
  return rows[0] ?? null;
}

/** Records a transfer's progress on its job; tells the agent to go on (with the current settings) or stop. */
export async function recordProgress(
  db: Queryable,
  task: TaskRow,
  report: TaskProgressRequest,
  current: (jobId: string) => Promise<{ settings: TransferSettings; settingsVersion: number } | null>,
): Promise<TaskProgressResponse> {
  if (task.state !== "pending" && task.state !== "running") return { action: "stop" };
  const rows = await db.query(
    `update replication_jobs set bytes_done = $2::bigint, bytes_total = greatest($3::bigint, $2::bigint), speed_bps = $4::double precision, progress_at = now(), updated_at = now()
     where job_id = $1 and status = 'Running' and business_status = 'Syncing' and current_run = $5 returning job_id`,
    [task.job_id, Math.round(report.bytesDone), Math.round(report.bytesTotal), report.bytesPerSecond, task.run],
  );
  if (rows.length === 0) return { action: "stop" };
  const now = await current(task.job_id);
  return now ? { action: "continue", ...now } : { action: "continue" };
}

/**
 * Ends a task with the agent's report; false when the task was no longer open.
 * A finished copy's report of what changed on the source goes on its job, so
 * the job shows it until the next copy finishes.
 */
export async function recordResult(db: Queryable, task: TaskRow, report: TaskResultRequest): Promise<boolean> {
  const rows = await db.query(
    "update agent_tasks set state = $2, result = $3::jsonb, updated_at = now() where task_id = $1 and state in ('pending', 'running') returning task_id",
    [task.task_id, report.ok ? "done" : "failed", JSON.stringify(report)],
  );
  if (rows.length === 0) return false;
  if (task.kind === "transfer" && report.ok && report.changedDuringCopy) {
    await db.query("update replication_jobs set changed_during_copy = $2::jsonb where job_id = $1 and current_run = $3", [
      task.job_id,
      JSON.stringify({ run: task.run, disks: report.changedDuringCopy }),
      task.run,
    ]);
  }
  return true;
}

export function taskResult(task: TaskRow): TaskResultRequest | null {
  return task.result == null ? null : json<TaskResultRequest>(task.result);
}

export function taskPayload(task: TaskRow): TaskPayload {
  return json<TaskPayload>(task.payload);
}

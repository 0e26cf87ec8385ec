// Replication jobs in the database: creating one (which takes its source),
// reading and listing them with their images, expiring them, and the last
// step of removing one. A source holds at most one unfinished job; the row
// lock on the source and the unique partial index on replication_jobs both
// keep it so, across replicas.
import { HoistError, isHoistError, JOB_STATUSES, type TargetType, type JobImage, type JobStatus, type ReplicationJob, type SourceInventory, UNFINISHED_JOB_STATUSES } from "@hoist/protocol";
import type { Database, Queryable } from "../db/database";
import { json } from "../store/rows";
import { newId } from "../store/secrets";
import { OFFLINE_CODE, sourceNotFound } from "../store/sources";
import { sourceIdOf, validateCreateJob } from "./validate";
import { type ImageRow, type JobRow, toImage, toJob } from "./view";
import type { JobWork } from "./work";

/** Statuses in which a job still holds its source: unfinished, or being removed after it was. */
const HOLDING = [...UNFINISHED_JOB_STATUSES, "Deleting"];

export function jobNotFound(jobId: string): HoistError {
  return new HoistError("ReplicationJob.NotFound", `no replication job ${jobId}`, { fix: "List the jobs with GET /v1/jobs." });
}

function isUniqueViolation(e: unknown, constraint: string): boolean {
  const err = e as { code?: unknown; constraint?: unknown; message?: unknown };
  return err?.code === "23505" && (err.constraint === constraint || String(err.message).includes(constraint));
}

function sourceBusy(sourceId: string, jobId: string | undefined, status: string | undefined): HoistError {
  return new HoistError("ReplicationJob.SourceBusy", `source server ${sourceId} already has an unfinished replication job${jobId ? ` (${jobId}, ${status})` : ""}`, {
    fix: "A source takes one job at a time: let that job finish, or cancel or delete it, then create this one.",
  });
}

/**
 * Puts a source back to Available once no job holds it any more (Unavailable
 * when its agent is offline). Call it in the transaction that ends the job's
 * hold: Finished, Expired, or the row removed.
 */
export async function freeSourceIfIdle(tx: Queryable, sourceId: string): Promise<void> {
  await tx.query(
    `update sources set state = case when error_code = $3 then 'Unavailable' else 'Available' end
     where source_id = $1 and state = 'InUse'
       and not exists (select 1 from replication_jobs j where j.source_id = $1 and j.status = any($2::text[]))`,
    [sourceId, HOLDING, OFFLINE_CODE],
  );
}

export async function imagesOf(db: Queryable, jobIds: readonly string[]): Promise<ImageRow[]> {
  if (jobIds.length === 0) return [];
  return db.query<ImageRow>("select * from job_images where job_id = any($1::text[]) order by job_id, run, created_at", [jobIds]);
}

export async function getJob(db: Queryable, jobId: string): Promise<ReplicationJob | null> {
  const rows = await db.query<JobRow>("select * from replication_jobs where job_id = $1", [jobId]);
  const row = rows[0];
  return row ? toJob(row, await imagesOf(db, [row.job_id])) : null;
}

export async function mustGetJob(db: Queryable, jobId: string): Promise<ReplicationJob> {
  const job = await getJob(db, jobId);
  if (!job) throw jobNotFound(jobId);
  return job;
}

export interface CreateJobOptions {
  /** The server's region, the default RegionId. */
  regionId: string;
  /** What the server's provider can make of a job (an image, an existing instance), and its name for refusals. */
  targets?: JobTargets;
  now?: Date;
}

/** The TargetTypes a server's jobs may have: an existing instance only where its provider migrates onto instances. */
export interface JobTargets {
  targetTypes: readonly TargetType[];
  /** The provider's name ("local", "alibaba"); none for a server without one. */
  provider?: string;
}

export function jobTargetsOf(provider: { name: string; migratesOntoInstances?: boolean } | undefined): JobTargets {
  return { targetTypes: provider?.migratesOntoInstances ? ["Image", "TargetInstance"] : ["Image"], ...(provider ? { provider: provider.name } : {}) };
}

/**
 * CreateReplicationJob: checks the body against its source, takes the source
 * (Available → InUse) and stores the job in one transaction, then hands it to
 * the background work as ExecutionMethod says: Now runs it, Scheduled queues
 * it for ScheduledStartTime, CreateOnly leaves it Ready.
 */
export async function createJob(db: Database, work: JobWork, body: unknown, opts: CreateJobOptions): Promise<ReplicationJob> {
  const sourceId = sourceIdOf(body);
  const now = opts.now ?? new Date();
  const jobId = newId("j");
  let row: JobRow;
  try {
    row = await db.transaction(async (tx) => {
      const sources = await tx.query<{ source_id: string; name: string; state: string; error_code: string | null; inventory: unknown }>(
        "select source_id, name, state, error_code, inventory from sources where source_id = $1 for update",
        [sourceId],
      );
      const source = sources[0];
      if (!source) throw sourceNotFound(sourceId);
      const job = validateCreateJob(body, now, { sourceId, name: source.name, inventory: json<SourceInventory>(source.inventory) }, { jobId, regionId: opts.regionId, ...opts.targets });
      const holder = await tx.query<{ job_id: string; status: string }>("select job_id, status from replication_jobs where source_id = $1 and status = any($2::text[])", [
        sourceId,
        UNFINISHED_JOB_STATUSES,
      ]);
      if (holder[0]) throw sourceBusy(sourceId, holder[0].job_id, holder[0].status);
      const destination = job.settings.TargetType === "TargetInstance" ? job.settings.InstanceId : null;
      if (destination) {
        // One migration at a time onto an instance: another would overwrite its disks and mix up its rollback snapshots.
        const other = await tx.query<{ job_id: string; status: string }>(
          "select job_id, status from replication_jobs where settings->>'InstanceId' = $1 and settings->>'TargetType' = 'TargetInstance' and status = any($2::text[]) limit 1",
          [destination, HOLDING],
        );
        if (other[0]) {
          throw new HoistError("ReplicationJob.DestinationBusy", `instance ${destination} is already the destination of replication job ${other[0].job_id} (${other[0].status})`, {
            fix: "An instance takes one migration at a time: let that job finish, or cancel it, then create this one (or pick another instance).",
          });
        }
      }
      if (source.state !== "Available") {
        const why = source.state === "Unavailable" ? (source.error_code === OFFLINE_CODE ? " (its agent is offline)" : " (its agent cannot be reached)") : "";
        throw new HoistError("SourceServerState.Invalid", `source server ${sourceId} is ${source.state}${why}; a job needs an Available source`, {
          fix: source.state === "Unavailable" ? "Start `hoist agent` on the source again and wait until the source is Available." : "Wait until the source is Available (GET /v1/sources/{sourceId}).",
        });
      }
      const s = job.settings;
      const [status, business, nextRun] = s.ExecutionMethod === "Now" ? ["Running", "Preparing", null] : s.ExecutionMethod === "Scheduled" ? ["Waiting", null, s.ScheduledStartTime] : ["Ready", null, null];
      const inserted = await tx.query<JobRow>(
        `insert into replication_jobs (job_id, source_id, name, description, status, business_status, settings, next_run_at, started_at)
         values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::timestamptz, case when $5 = 'Running' then now() end)
         returning *`,
        [jobId, sourceId, job.name, job.description, status, business, JSON.stringify(s), nextRun],
      );
      await tx.query("update sources set state = 'InUse' where source_id = $1", [sourceId]);
      const created = inserted[0];
      if (!created) throw new HoistError("Internal.Error", "the job was not stored", { retryable: true });
      return created;
    });
  } catch (e) {
    // Two replicas creating jobs for one source at once: the index lets one through.
    if (isUniqueViolation(e, "replication_jobs_one_unfinished_idx")) throw sourceBusy(sourceId, undefined, undefined);
    throw e;
  }
  const settings = json<{ ExecutionMethod: string; ScheduledStartTime: string | null }>(row.settings);
  if (settings.ExecutionMethod === "Now") await startWork(db, work, jobId);
  else if (settings.ExecutionMethod === "Scheduled" && settings.ScheduledStartTime) await startWork(db, work, jobId, new Date(settings.ScheduledStartTime));
  return mustGetJob(db, jobId);
}

/**
 * Hands a job to the background work. If that fails (the queue is down), the
 * job becomes InError rather than claiming to run with nothing behind it, so
 * a retry can start it again.
 */
export async function startWork(db: Queryable, work: JobWork, jobId: string, at?: Date): Promise<void> {
  try {
    await (at ? work.start(jobId, at) : work.start(jobId));
  } catch (e) {
    const err = isHoistError(e) ? e : null;
    await db.query(
      `update replication_jobs set status = 'InError', error_code = $2, error_message = $3, error_fix = $4, speed_bps = 0, updated_at = now()
       where job_id = $1 and status in ('Running', 'Waiting')`,
      [
        jobId,
        err?.code ?? "ReplicationJob.StartFailed",
        `the job could not be handed to the background work: ${e instanceof Error ? e.message : String(e)}`,
        err?.fix ?? "Retry the job (POST /v1/jobs/{jobId}/retry) once the database is reachable.",
      ],
    );
  }
}

export interface JobFilter {
  status?: JobStatus | undefined;
  sourceId?: string | undefined;
  /** Part of the name, matched case-insensitively (wildcards in it match themselves). */
  name?: string | undefined;
  limit: number;
  offset: number;
}

export function isJobStatus(s: string): s is JobStatus {
  return (JOB_STATUSES as readonly string[]).includes(s);
}

/** DescribeReplicationJobs: newest first, with the total before paging. */
export async function listJobs(db: Queryable, filter: JobFilter): Promise<{ total: number; jobs: ReplicationJob[] }> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.status) {
    params.push(filter.status);
    where.push(`status = $${params.length}`);
  }
  if (filter.sourceId) {
    params.push(filter.sourceId);
    where.push(`source_id = $${params.length}`);
  }
  if (filter.name) {
    params.push(`%${filter.name.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    where.push(`name ilike $${params.length}`);
  }
  const clause = where.length ? `where ${where.join(" and ")}` : "";
  const total = (await db.query<{ n: number }>(`select count(*)::int as n from replication_jobs ${clause}`, params))[0]?.n ?? 0;
  const rows = await db.query<JobRow>(`select * from replication_jobs ${clause} order by created_at desc, job_id limit $${params.length + 1} offset $${params.length + 2}`, [
    ...params,
    filter.limit,
    filter.offset,
  ]);
  const images = await imagesOf(
    db,
    rows.map((r) => r.job_id),
  );
  return { total, jobs: rows.map((r) => toJob(r, images)) };
}

/** Every image the jobs made (kept when a job is deleted: the images outlive it), newest first. */
export async function listImages(db: Queryable, filter: { jobId?: string | undefined } = {}): Promise<(JobImage & { JobId: string })[]> {
  const rows = filter.jobId
    ? await db.query<ImageRow>("select * from job_images where job_id = $1 order by created_at desc, run desc", [filter.jobId])
    : await db.query<ImageRow>("select * from job_images order by created_at desc, job_id, run desc");
  return rows.map((r) => ({ JobId: r.job_id, ...toImage(r) }));
}

/**
 * Expires unfinished jobs whose ValidTime has passed, unless a run is under
 * way (Running jobs finish their run; the orchestrator decides after it).
 * Their open agent tasks are cancelled and their sources freed. Safe to run
 * on every replica at once: the UPDATE takes each job once.
 */
export async function expireJobs(db: Database): Promise<number> {
  return db.transaction(async (tx) => {
    const expired = await tx.query<{ job_id: string; source_id: string }>(
      `update replication_jobs set status = 'Expired', ended_at = now(), next_run_at = null, speed_bps = 0, updated_at = now(),
         status_info = 'ValidTime ' || (settings->>'ValidTime') || ' passed before the job finished'
       where status in ('Ready', 'Stopped', 'InError', 'Waiting')
         and settings->>'ValidTime' is not null and (settings->>'ValidTime')::timestamptz <= now()
       returning job_id, source_id`,
    );
    if (expired.length === 0) return 0;
    await tx.query("update agent_tasks set state = 'cancelled', updated_at = now() where job_id = any($1::text[]) and state in ('pending', 'running')", [expired.map((e) => e.job_id)]);
    for (const sourceId of new Set(expired.map((e) => e.source_id))) await freeSourceIfIdle(tx, sourceId);
    return expired.length;
  });
}

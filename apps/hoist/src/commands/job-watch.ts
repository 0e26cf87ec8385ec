// `hoist jobs watch`: polls one job every 2 s and prints a line when its
// Status or BusinessStatus changes and a progress line while it copies, until
// the job reaches the awaited Status or a state it will not leave on its own.
import type { ControlPlaneClient } from "@hoist/agent";
import { HoistError, isHoistError, JOB_STATUSES, type JobStatus, type ReplicationJob } from "@hoist/protocol";
import { progressText, statusText } from "./job-view";

export const WATCH_INTERVAL_MS = 2000;
/** How long the server may stay unreachable (a restart, a network blip) before watch gives up. */
const UNREACHABLE_GRACE_MS = 30_000;

/** States a job does not leave without someone acting (or ever). */
const SETTLED: readonly JobStatus[] = ["Finished", "InError", "Stopped", "Expired", "Deleting"];

export function untilFlag(value: string): JobStatus {
  if (!(JOB_STATUSES as readonly string[]).includes(value)) {
    throw new HoistError("Config.InvalidStatus", `--until must be a job Status: ${JOB_STATUSES.join(", ")} (got "${value}")`, { fix: "Pass e.g. --until Finished." });
  }
  return value as JobStatus;
}

export type WatchVerdict = { done: true } | { done: false; error?: HoistError };

/**
 * Whether watching ends. Awaiting Finished, a periodic job that is Waiting
 * after at least one run counts as done: its run finished (the image is made)
 * and it now waits for the next one; so on such a job watch returns at once
 * when the latest run has already finished, and otherwise when the run going
 * on ends.
 */
export function verdict(job: ReplicationJob, until: JobStatus): WatchVerdict {
  if (job.Status === until) return { done: true };
  if (until === "Finished" && !job.RunOnce && job.Status === "Waiting" && job.RunCount >= 1) return { done: true };
  if (!SETTLED.includes(job.Status)) return { done: false };
  const id = job.JobId;
  switch (job.Status) {
    case "InError":
      return {
        done: false,
        error: new HoistError(job.ErrorCode ?? "ReplicationJob.InError", job.ErrorMessage ?? `job ${id} failed`, { fix: job.ErrorFix ?? `See hoist jobs show ${id}; then hoist jobs retry ${id}.` }),
      };
    case "Stopped":
      return { done: false, error: new HoistError("Watch.JobStopped", `job ${id} was stopped before it reached ${until}`, { fix: `Start it again with hoist jobs start ${id}, then watch it again.` }) };
    case "Expired":
      return { done: false, error: new HoistError("Watch.JobExpired", `job ${id} expired (valid until ${job.ValidTime ?? "?"}) before it reached ${until}`, { fix: "Create a new job, with a later --valid-until." }) };
    case "Deleting":
      return { done: false, error: new HoistError("Watch.JobDeleted", `job ${id} is being deleted`, { fix: "Create a new job for the source." }) };
    default:
      return { done: false, error: new HoistError("Watch.JobEnded", `job ${id} is ${job.Status} and will not reach ${until}`, { fix: `Pass the --until Status you expect (see hoist jobs show ${id}).` }) };
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const clock = (): string => new Date().toTimeString().slice(0, 8);

export interface WatchOptions {
  until: JobStatus;
  /** Seconds; undefined waits as long as it takes. */
  timeout?: number | undefined;
  json?: boolean | undefined;
  out?: (line: string) => void;
}

export async function watchJob(client: ControlPlaneClient, jobId: string, opts: WatchOptions): Promise<ReplicationJob> {
  const out = opts.out ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const deadline = opts.timeout === undefined ? Number.POSITIVE_INFINITY : Date.now() + opts.timeout * 1000;
  const path = `/v1/jobs/${encodeURIComponent(jobId)}`;
  let lastStatus = "";
  let lastProgress = "";
  let unreachableSince: number | null = null;
  for (;;) {
    let job: ReplicationJob | null = null;
    try {
      job = await client.request<ReplicationJob>("GET", path);
      if (unreachableSince !== null) process.stderr.write(`${clock()}  hoist server answers again\n`);
      unreachableSince = null;
    } catch (e) {
      if (!isHoistError(e) || !e.retryable) throw e;
      if (unreachableSince === null) {
        unreachableSince = Date.now();
        process.stderr.write(`${clock()}  ${e.code}: ${e.message}; trying again for ${UNREACHABLE_GRACE_MS / 1000} s\n`);
      } else if (Date.now() - unreachableSince > UNREACHABLE_GRACE_MS) throw e;
    }
    if (job) {
      const status = statusText(job);
      // Before the copy has anything to show (Preparing), the status line says enough.
      const progress = job.Status === "Running" && (job.Transfer || job.Progress > 0) ? progressText(job) : "";
      if (opts.json) {
        if (status !== lastStatus || progress !== lastProgress) out(JSON.stringify(job));
      } else {
        if (status !== lastStatus) out(`${clock()}  ${job.JobId}  ${status}${job.StatusInfo ? ` — ${job.StatusInfo}` : ""}`);
        if (progress && progress !== lastProgress) out(`${clock()}  ${job.JobId}  ${progress}`);
      }
      lastStatus = status;
      lastProgress = progress;
      const v = verdict(job, opts.until);
      if (v.done) return job;
      if (v.error) throw v.error;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new HoistError("Watch.TimedOut", `job ${jobId} did not reach ${opts.until} within ${opts.timeout} s (last seen: ${lastStatus || "no answer"})`, {
        fix: "Watch again with a longer --timeout, or see hoist jobs show for what it is doing.",
        retryable: true,
      });
    }
    await sleep(Math.min(WATCH_INTERVAL_MS, left));
  }
}

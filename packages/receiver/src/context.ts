// What the control API and the data port share: state, jobs, the target
// backend, the failure throttle and which jobs' disks this process attached.
import type { PreparedDisk, TargetBackend } from "@hoist/images";
import { HoistError } from "@hoist/protocol";
import type { Logger } from "@hoist/runtime";
import { ChunkWorkers } from "@hoist/transport";
import { FailureThrottle, tokenMatches } from "./auth";
import type { JobStore, StoredJob } from "./job-store";
import type { ReceiverState } from "./state";

const NO_MATCH = "0".repeat(64);

export class ReceiverContext {
  readonly throttle = new FailureThrottle();
  private readonly attached = new Set<string>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** The running block session of each "jobId/partition": its connection, and when it has let go of the target. */
  readonly blockSessions = new Map<string, { socket: { destroy(): void }; done: Promise<void> }>();
  private workers: ChunkWorkers | undefined;

  constructor(
    readonly state: ReceiverState,
    readonly store: JobStore,
    readonly backend: TargetBackend,
    readonly log: Logger,
    readonly version: string,
  ) {}

  /** Worker threads that decode and hash block chunks, made on the first block session. */
  chunkWorkers(): ChunkWorkers {
    this.workers ??= new ChunkWorkers();
    return this.workers;
  }

  async closeWorkers(): Promise<void> {
    await this.workers?.close();
    this.workers = undefined;
  }

  /** Finds the job the token belongs to; unknown job and wrong token look the same to the caller. */
  async authenticateJob(jobId: string, token: string | undefined): Promise<StoredJob | undefined> {
    const job = await this.store.get(jobId).catch(() => undefined);
    const ok = tokenMatches(token ?? "", job?.tokenSha256 ?? NO_MATCH);
    return ok && job && token ? job : undefined;
  }

  unauthorized(): HoistError {
    return new HoistError("Receiver.Unauthorized", "the token is missing or not valid for this job", {
      fix: "Use the token returned when the job was created on this receiver.",
    });
  }

  /** Runs one job operation at a time per job. */
  async withJob<T>(jobId: string, fn: () => Promise<T>): Promise<T> {
    const before = this.locks.get(jobId) ?? Promise.resolve();
    const next = before.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.locks.set(jobId, settled);
    try {
      return await next;
    } finally {
      if (this.locks.get(jobId) === settled) this.locks.delete(jobId);
    }
  }

  async prepare(job: StoredJob): Promise<PreparedDisk[]> {
    const log = this.log.child({ jobId: job.jobId });
    const disks = await this.backend.prepare({ jobDir: this.store.jobDir(job.jobId), plan: job.plan }, log);
    this.attached.add(job.jobId);
    job.disks = disks;
    job.state = "prepared";
    await this.store.save(job);
    return disks;
  }

  markDetached(jobId: string): void {
    this.attached.delete(jobId);
  }

  /** The job's target disks, re-attached after a receiver restart (prepare is idempotent). */
  async disksForTransfer(job: StoredJob): Promise<PreparedDisk[]> {
    if (job.state === "created" || job.state === "detached") {
      throw new HoistError("Receiver.NotPrepared", `job ${job.jobId} has no prepared target disks`, {
        fix: "Call POST /v1/jobs/:id/prepare before transferring.",
      });
    }
    if (this.attached.has(job.jobId)) return job.disks;
    return this.withJob(job.jobId, async () => {
      if (this.attached.has(job.jobId)) return job.disks;
      return this.prepare(job);
    });
  }
}

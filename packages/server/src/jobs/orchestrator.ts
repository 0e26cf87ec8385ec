// Moves replication jobs through their stages: Preparing (read the source,
// plan the target, start the intermediate instance and its disks), Syncing
// (the agent copies), Processing (convert, make the image, boot it), Cleaning
// (release the instance, or keep it for the next periodic run and drop the
// oldest images). Everything it knows is in the database, and every step can
// run again after a crash, so any replica can pick a job up where another
// left it.
//
// One replica at a time works on a job: it takes a lease on the job's row and
// renews it while a step runs. A replica that dies leaves a lease that runs
// out; the sweep then hands the job to whoever is alive. A request to move a
// job on that arrives while another replica holds the lease sets `wake`, and
// the holder looks again before letting go.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { lvmFallbackReason, makePlan, type PlanSettings } from "@hoist/images";
import type { IntermediateInstance, Placement, Provider } from "@hoist/providers";
import { type AgentTask, type BlockSourceReport, HoistError, isHoistError, type ReplicationJobSettings, type SourceInventory, type TargetPlan, type TransferSettings } from "@hoist/protocol";
import type { Logger } from "@hoist/runtime";
import { type ControlClient, createControlClient } from "@hoist/transport";
import type { Database, Queryable } from "../db/database";
import { json } from "../store/rows";
import { cancelJobTasks, createTask, latestTask, markDelivered, openTasksFor, taskPayload, taskResult } from "./agent-tasks";
import type { JobQueue } from "./queue";
import { freeSourceIfIdle } from "./store";
import type { JobWork } from "./work";

interface JobRow extends Record<string, unknown> {
  job_id: string;
  source_id: string;
  status: string;
  business_status: string | null;
  settings: unknown;
  settings_version: number;
  run_count: number;
  current_run: number;
  next_run_at: Date | string | null;
  instance_id: string | null;
  receiver_job_id: string | null;
  inventory: unknown;
  block_sources: unknown;
  plan: unknown;
  pending_image: string | null;
  run_state: unknown;
}

/**
 * What the current run has finished since its intermediate instance was
 * prepared, recorded in the same transaction as the step that did it: a
 * replica that dies after a step never does that step again.
 */
interface RunState {
  converted?: { report: unknown; disks: { key: string; rawPath: string; sizeBytes: number }[] };
  imaged?: boolean;
}

export interface OrchestratorOptions {
  db: Database;
  log: Logger;
  provider: Provider;
  /** Seconds in one hour of `Frequency` (3600; tests shorten it). */
  hourSeconds?: number;
  verifyTimeoutSeconds?: number;
  leaseSeconds?: number;
  /** Frees a deleted job's source and removes the job row (the job store's part of a release). */
  finishRelease(db: Database, jobId: string): Promise<void>;
}

/** Mbit/s as rsync's KiB/s. */
export const mbpsToKBps = (mbps: number): number => Math.floor((mbps * 1_000_000) / 8 / 1024);

export function transferSettingsOf(s: ReplicationJobSettings): TransferSettings {
  return { bandwidthKBps: mbpsToKBps(s.RateLimit), compression: s.CompressLevel, checksum: s.Checksum, streams: s.ParallelStreams };
}

/** Current transfer settings of a job, for agents' progress reports (a modify while syncing reaches the agent this way). */
export async function currentTransferSettings(db: Queryable, jobId: string): Promise<{ settings: TransferSettings; settingsVersion: number } | null> {
  const rows = await db.query<JobRow>("select settings, settings_version from replication_jobs where job_id = $1", [jobId]);
  const row = rows[0];
  return row ? { settings: transferSettingsOf(json<ReplicationJobSettings>(row.settings)), settingsVersion: row.settings_version } : null;
}

function blockSourcesOf(job: JobRow): BlockSourceReport[] {
  return job.block_sources == null ? [] : json<BlockSourceReport[]>(job.block_sources);
}

/**
 * Where a job's resources go, from its own settings: every provider call for the job carries it,
 * so a provider serving jobs in many regions and networks acts where this one lives (and a
 * restarted server finds the job's instance in the job's region).
 */
export function placementOf(s: ReplicationJobSettings): Placement {
  const destination = destinationOf(s);
  return {
    region: s.RegionId,
    netMode: s.NetMode === 2 ? "vpc" : "public",
    ...(s.VpcId ? { vpcId: s.VpcId } : {}),
    ...(s.VSwitchId ? { vSwitchId: s.VSwitchId } : {}),
    ...(s.InstanceType ? { instanceType: s.InstanceType } : {}),
    // A TargetInstance job lands on the user's instance, which serves as its intermediate instance.
    ...(destination ? { destinationInstanceId: destination } : {}),
  };
}

/** The destination instance of a TargetInstance job, or null for a job that makes an image. */
export function destinationOf(s: ReplicationJobSettings): string | null {
  return s.TargetType === "TargetInstance" && s.InstanceId ? s.InstanceId : null;
}

/** The image a run makes: the name itself for a one-time job, name-rN for each run of a periodic one. */
export function runImageName(s: ReplicationJobSettings, run: number): string {
  return s.RunOnce ? s.ImageName : `${s.ImageName}-r${run}`;
}

function planSettingsOf(s: ReplicationJobSettings, inventory: SourceInventory, blockSources: readonly BlockSourceReport[]): PlanSettings {
  return {
    blockPartitions: blockSources.map((b) => ({ mountPoint: b.mountPoint, sourceBytes: b.sourceBytes, fs: b.fs, uuid: b.uuid })),
    ...(s.BootMode === "auto" ? {} : { bootMode: s.BootMode }),
    ...(s.SystemDiskSize === null ? {} : { systemDiskGiB: s.SystemDiskSize }),
    fs: s.Filesystem,
    lvm: s.Lvm,
    separateBoot: s.SeparateBoot,
    dataDisks: s.DataDisks.map((d) => {
      const usedBytes = inventory.paths.find((p) => p.path === join(inventory.sourceRoot, d.SourcePath))?.usedBytes ?? 0;
      return { index: d.Index, sizeGiB: d.Size ?? Math.max(20, Math.ceil((usedBytes * 1.2) / 2 ** 30) + 1), srcPath: d.SourcePath, usedBytes };
    }),
  };
}

export class Orchestrator implements JobWork {
  readonly replicaId = `r-${randomBytes(6).toString("hex")}`;
  private queue: JobQueue | null = null;
  private readonly db: Database;
  private readonly log: Logger;
  private readonly provider: Provider;
  private readonly leaseSeconds: number;
  private readonly hourSeconds: number;
  private closed = false;
  /** Jobs a queue worker of this replica is moving right now. */
  private readonly advancing = new Set<string>();

  constructor(private readonly opts: OrchestratorOptions) {
    this.db = opts.db;
    this.log = opts.log.child({ replica: this.replicaId });
    this.provider = opts.provider;
    this.leaseSeconds = opts.leaseSeconds ?? 30;
    this.hourSeconds = opts.hourSeconds ?? 3600;
  }

  attach(queue: JobQueue): void {
    this.queue = queue;
  }

  close(): void {
    this.closed = true;
  }

  // --- JobWork: what the API asks for.

  async start(jobId: string, startAfter?: Date): Promise<void> {
    await this.send(jobId, startAfter);
  }

  async release(jobId: string): Promise<void> {
    await this.send(jobId);
  }

  private async send(jobId: string, startAfter?: Date): Promise<void> {
    if (!this.queue) throw new HoistError("Server.NotReady", "the job queue is not running yet", { retryable: true });
    await this.queue.advance(jobId, startAfter);
  }

  /** Jobs whose lease ran out (a replica died), that were woken while nobody held them, or whose time has come. */
  async sweep(): Promise<number> {
    const rows = await this.db.query<{ job_id: string }>(
      `select job_id from replication_jobs
       where (lease_owner is not null and lease_until < now())
          or (lease_owner is null and (wake or status = 'Deleting' or (status = 'Waiting' and next_run_at <= now())))
       limit 200`,
    );
    for (const r of rows) await this.send(r.job_id);
    return rows.length;
  }

  /**
   * At start, every job in motion is looked at again: a replica killed after an
   * agent's result was stored but before it asked for the job to move on left
   * nobody to move it. On the embedded database this process is the only
   * replica, so a lease still held is a dead process's and is dropped at once
   * rather than after it runs out.
   */
  async resume(): Promise<number> {
    if (this.db.kind === "pglite") await this.db.query("update replication_jobs set lease_owner = null, lease_until = null where lease_owner is not null");
    const rows = await this.db.query<{ job_id: string }>("select job_id from replication_jobs where status in ('Running', 'Deleting') or wake");
    for (const r of rows) await this.send(r.job_id);
    return rows.length;
  }

  // --- The queue's handler.

  async advance(jobId: string): Promise<void> {
    // The queue's workers share this replica's lease: a second message for a job this
    // replica is already moving (a restart's resume, an agent's result, the API) only
    // asks the running loop for another look; two loops would run one step twice.
    if (this.advancing.has(jobId)) {
      await this.db.query("update replication_jobs set wake = true where job_id = $1", [jobId]);
      return;
    }
    this.advancing.add(jobId);
    try {
      await this.advanceClaimed(jobId);
    } finally {
      this.advancing.delete(jobId);
    }
  }

  private async advanceClaimed(jobId: string): Promise<void> {
    if (!(await this.claim(jobId))) {
      await this.db.query("update replication_jobs set wake = true where job_id = $1", [jobId]);
      // The holder may have let go between the two statements; try once more.
      if (!(await this.claim(jobId))) return;
    }
    const renew = setInterval(
      () => {
        this.db
          .query("update replication_jobs set lease_until = now() + make_interval(secs => $3) where job_id = $1 and lease_owner = $2", [jobId, this.replicaId, this.leaseSeconds])
          .catch((e: unknown) => this.log.warn("lease renewal failed", { jobId, error: String(e) }));
      },
      (this.leaseSeconds * 1000) / 3,
    );
    try {
      for (let i = 0; i < 100 && !this.closed; i++) {
        const moved = await this.stepSafely(jobId);
        if (moved) continue;
        // Let go unless someone asked for another look meanwhile.
        const let_go = await this.db.query(
          "update replication_jobs set lease_owner = null, lease_until = null where job_id = $1 and lease_owner = $2 and not wake returning job_id",
          [jobId, this.replicaId],
        );
        if (let_go.length > 0) return;
        const gone = await this.db.query("update replication_jobs set wake = false where job_id = $1 and lease_owner = $2 returning job_id", [jobId, this.replicaId]);
        if (gone.length === 0) return; // deleted, or the lease was lost
      }
    } finally {
      clearInterval(renew);
    }
  }

  private async claim(jobId: string): Promise<boolean> {
    const rows = await this.db.query(
      `update replication_jobs set lease_owner = $2, lease_until = now() + make_interval(secs => $3), wake = false
       where job_id = $1 and (lease_owner is null or lease_owner = $2 or lease_until < now()) returning job_id`,
      [jobId, this.replicaId, this.leaseSeconds],
    );
    return rows.length > 0;
  }

  /** One step; a failure puts the job InError with its code and fix (the intermediate instance is kept). */
  private async stepSafely(jobId: string): Promise<boolean> {
    try {
      return await this.step(jobId);
    } catch (e) {
      // A step cut short by this replica shutting down is not the job's fault: the lease runs out and another replica redoes it.
      if (this.closed) throw e;
      const err = isHoistError(e)
        ? e
        : new HoistError("Internal.Error", e instanceof Error ? e.message : String(e), { fix: "Retry the job; if it fails again, read the server log." });
      this.log.warn("job step failed", { jobId, code: err.code, error: err.message });
      await this.fail(jobId, err);
      return false;
    }
  }

  private async job(jobId: string): Promise<JobRow | null> {
    return (await this.db.query<JobRow>("select * from replication_jobs where job_id = $1", [jobId]))[0] ?? null;
  }

  private async fail(jobId: string, err: HoistError): Promise<void> {
    await this.db.query(
      `update replication_jobs set status = 'InError', error_code = $2, error_message = $3, error_fix = $4, speed_bps = 0, updated_at = now()
       where job_id = $1 and status = 'Running'`,
      [jobId, err.code, err.message, err.fix ?? null],
    );
  }

  /** Moves the job from one BusinessStatus to the next, if nobody changed it meanwhile. */
  private async moveTo(job: JobRow, next: string, extra = "", params: unknown[] = [], db: Queryable = this.db): Promise<boolean> {
    const rows = await db.query(
      `update replication_jobs set business_status = $3, updated_at = now()${extra} where job_id = $1 and status = 'Running' and business_status is not distinct from $2 returning job_id`,
      [job.job_id, job.business_status, next, ...params],
    );
    return rows.length > 0;
  }

  /**
   * Runs one step and records it in job_steps. `commit` records what the step
   * achieved in the same transaction that marks it done, so a replica killed
   * in between leaves a step without an outcome that runs again, never a
   * step done whose effect the job forgot.
   */
  private async logStep<T>(job: JobRow, step: string, fn: () => Promise<T>, commit?: (tx: Queryable, out: T) => Promise<void>): Promise<T> {
    const started = new Date();
    const mark = "update job_steps set finished_at = now(), outcome = $5 where job_id = $1 and run = $2 and step = $3 and started_at = $4";
    const key = [job.job_id, job.current_run, step, started];
    await this.db.query("insert into job_steps (job_id, run, step, replica, started_at) values ($1, $2, $3, $4, $5)", [...key.slice(0, 3), this.replicaId, started]);
    let out: T;
    try {
      out = await fn();
    } catch (e) {
      await this.db.query(mark, [...key, "failed"]).catch(() => undefined);
      throw e;
    }
    await this.db.transaction(async (tx) => {
      await tx.query(mark, [...key, "done"]);
      if (commit) await commit(tx, out);
    });
    return out;
  }

  private async step(jobId: string): Promise<boolean> {
    const job = await this.job(jobId);
    if (!job) return false;
    const s = json<ReplicationJobSettings>(job.settings);
    switch (job.status) {
      case "Deleting":
        await this.logStep(job, "release", async () => {
          await cancelJobTasks(this.db, jobId);
          if (destinationOf(s)) await this.releaseDestination(job, s);
          else if (job.instance_id) await this.provider.releaseIntermediateInstance(job.instance_id, placementOf(s));
          await this.opts.finishRelease(this.db, jobId);
        });
        this.log.info("job deleted", { jobId, instanceId: job.instance_id });
        return false;
      case "Waiting": {
        const at = job.next_run_at ? new Date(job.next_run_at as string) : null;
        if (at && at.getTime() > Date.now()) {
          await this.send(jobId, at);
          return false;
        }
        const rows = await this.db.query(
          "update replication_jobs set status = 'Running', business_status = 'Preparing', next_run_at = null, updated_at = now() where job_id = $1 and status = 'Waiting' returning job_id",
          [jobId],
        );
        return rows.length > 0;
      }
      case "Running":
        break;
      default:
        return false;
    }

    switch (job.business_status) {
      case null:
      case "Preparing":
        return this.preparing(job, s);
      case "Syncing":
        return this.syncing(job, s);
      case "Processing":
        return this.processing(job, s);
      case "Cleaning":
        return this.cleaning(job, s);
      default:
        return false;
    }
  }

  private async preparing(job: JobRow, s: ReplicationJobSettings): Promise<boolean> {
    if (destinationOf(s) && !this.provider.migratesOntoInstances) {
      // A job created under a provider that could, taken up by a server started with one that cannot.
      throw new HoistError("ReplicationJob.UnsupportedTargetType", `this job migrates onto instance ${s.InstanceId}, and the ${this.provider.name} provider makes images only`, {
        fix: "Run the job on hoist server --provider alibaba, or cancel it and create a job with TargetType Image.",
      });
    }
    if (job.current_run === 0) {
      // A new run: count it, and forget the last run's reading of the source and its progress.
      const rows = await this.db.query(
        `update replication_jobs set run_count = run_count + 1, current_run = run_count + 1, business_status = 'Preparing', inventory = null, block_sources = null, run_state = null,
           bytes_done = 0, bytes_total = 0, speed_bps = 0, verification = null, started_at = coalesce(started_at, now()), updated_at = now()
         where job_id = $1 and status = 'Running' and current_run = 0 returning job_id`,
        [job.job_id],
      );
      return rows.length > 0;
    }
    if (job.inventory == null) {
      const task = await latestTask(this.db, job.job_id, job.current_run, "inventory");
      if (!task || task.state === "cancelled") {
        const blockPaths = [...s.SystemDiskParts.filter((p) => p.Block).map((p) => p.Path), ...s.DataDisks.filter((d) => d.Block).map((d) => d.SourcePath)];
        await createTask(
          this.db,
          { jobId: job.job_id, sourceId: job.source_id, run: job.current_run },
          { kind: "inventory", paths: s.DataDisks.map((d) => d.SourcePath), bootMode: s.BootMode, ...(blockPaths.length ? { blockPaths } : {}) },
        );
        return false;
      }
      if (task.state === "failed") throw errorOfTask(task.result, "Inventory.Failed");
      if (task.state !== "done") return false;
      const inventory = taskResult(task);
      if (!inventory?.ok || !inventory.inventory) throw new HoistError("Inventory.Failed", "the agent reported no inventory", { fix: "Retry the job." });
      await this.db.query("update replication_jobs set inventory = $2::jsonb, block_sources = $3::jsonb where job_id = $1", [
        job.job_id,
        JSON.stringify(inventory.inventory),
        JSON.stringify(inventory.blockSources ?? []),
      ]);
      return true;
    }
    const inventory = json<SourceInventory>(job.inventory);
    let moved = false;
    await this.logStep(
      job,
      "prepare",
      async () => {
      let plan: TargetPlan;
      if (job.plan != null && job.receiver_job_id) {
        // Later runs (and retries) copy into the disks the first run laid out.
        plan = json<TargetPlan>(job.plan);
      } else {
        const wanted = planSettingsOf(s, inventory, blockSourcesOf(job));
        plan = makePlan(inventory, wanted);
        if (wanted.lvm && !plan.lvm) this.log.warn("LVM re-layout does not take effect", { jobId: job.job_id, reason: lvmFallbackReason(inventory, wanted) ?? "unknown" });
        await this.db.query("update replication_jobs set plan = $2::jsonb where job_id = $1", [job.job_id, JSON.stringify(plan)]);
      }
      const image = runImageName(s, job.current_run);
      if (job.pending_image !== image && (await this.provider.imageExists(image, s.RegionId))) {
        throw new HoistError("Image.NameExists", `an image named ${image} already exists in region ${s.RegionId}`, {
          fix: "Delete that image (hoist image rm) or create the job again with another ImageName, then retry.",
        });
      }
      const instance = await this.instanceOf(job, s, plan, inventory);
      const admin = createControlClient({ host: instance.host, port: instance.controlPort, fingerprint: instance.fingerprint, token: instance.adminToken, timeoutMs: 30 * 60_000 });
      let receiverJobId = job.receiver_job_id;
      if (!receiverJobId) {
        const created = await admin.json<{ jobId: string }>("POST", "/v1/jobs", { plan, label: job.job_id });
        receiverJobId = created.jobId;
        await this.db.query("update replication_jobs set receiver_job_id = $2 where job_id = $1", [job.job_id, receiverJobId]);
      }
      await admin.json("POST", `/v1/jobs/${receiverJobId}/prepare`, {});
      },
      async (tx) => {
        moved = await this.moveTo(job, "Syncing", ", run_state = null", [], tx);
      },
    );
    return moved;
  }

  /**
   * The job's intermediate instance: found again, or started now (and recorded
   * at once). One released outside hoist cannot be used again: the job forgets
   * it and goes back to Preparing, so a retry starts a new instance and copies
   * the source again from the start.
   */
  private async instanceOf(job: JobRow, s: ReplicationJobSettings, plan: TargetPlan, inventory: SourceInventory): Promise<IntermediateInstance> {
    if (job.instance_id) {
      const found = await this.provider.findIntermediateInstance(job.instance_id, placementOf(s));
      if (found) return found;
      await this.db.transaction(async (tx) => {
        await tx.query(
          `update replication_jobs set instance_id = null, receiver_job_id = null, business_status = 'Preparing', run_state = null, bytes_done = 0, speed_bps = 0, updated_at = now()
           where job_id = $1 and instance_id = $2`,
          [job.job_id, job.instance_id],
        );
        await cancelJobTasks(tx, job.job_id);
      });
      this.log.warn("the intermediate instance is gone", { jobId: job.job_id, instanceId: job.instance_id });
      if (destinationOf(s)) {
        throw new HoistError("Destination.NotFound", `the destination instance ${job.instance_id} of this job no longer exists in ${s.RegionId}`, {
          fix: "Cancel the job and create it again with the InstanceId of an instance that exists (or with TargetType Image).",
        });
      }
      throw new HoistError("IntermediateInstance.Released", `the intermediate instance ${job.instance_id} of this job no longer exists: it was released outside hoist`, {
        fix: "Retry the job: hoist starts a new intermediate instance and copies the source again from the start.",
        retryable: true,
      });
    }
    // The job's id labels its only instance: one this replica's predecessor started but never recorded is taken up.
    const instance = await this.provider.createIntermediateInstance({ region: s.RegionId, placement: placementOf(s), label: job.job_id, plan, inventory, adopt: true });
    await this.db.query("update replication_jobs set instance_id = $2, updated_at = now() where job_id = $1", [job.job_id, instance.instanceId]);
    this.log.info("intermediate instance started", { jobId: job.job_id, instanceId: instance.instanceId });
    return instance;
  }

  private async syncing(job: JobRow, s: ReplicationJobSettings): Promise<boolean> {
    const task = await latestTask(this.db, job.job_id, job.current_run, "transfer");
    const plan = json<TargetPlan>(job.plan);
    if (!task || task.state === "cancelled" || task.state === "failed") {
      const blockSources = blockSourcesOf(job);
      // Nothing to send to when the intermediate instance is gone (this throws IntermediateInstance.Released).
      await this.instanceOf(job, s, plan, json<SourceInventory>(job.inventory));
      if (task?.state === "failed") throw errorOfTask(task.result, "Transfer.Failed");
      await createTask(
        this.db,
        { jobId: job.job_id, sourceId: job.source_id, run: job.current_run },
        {
          kind: "transfer",
          disks: plan.disks.map((d) => {
            const blocks = d.partitions.filter((p) => p.replication === "block");
            const blockPartitions = blocks.map((p) => {
              const source = blockSources.find((b) => b.mountPoint === p.mountPoint);
              if (!source) throw new HoistError("Plan.InvalidBlockPartition", `no source partition is known for ${p.mountPoint}, which the plan copies by block`, { fix: "Retry the job." });
              return { partition: p.key, mountPoint: p.mountPoint, device: source.device };
            });
            return {
              module: d.key,
              sourcePath: d.key === "system" ? "/" : d.sourcePath,
              excludes: [],
              usedBytes: d.usedBytes,
              ...(blocks.length ? { blockPartitions, blockOnly: blocks.length === d.partitions.length } : {}),
            };
          }),
        },
      );
      await this.db.query("update replication_jobs set bytes_total = $2 where job_id = $1", [job.job_id, plan.disks.reduce((n, d) => n + d.usedBytes, 0)]);
      return false;
    }
    if (task.state !== "done") return false;
    return this.moveTo(job, "Processing", ", bytes_done = greatest(bytes_done, bytes_total), speed_bps = 0");
  }

  private async processing(job: JobRow, s: ReplicationJobSettings): Promise<boolean> {
    const inventory = json<SourceInventory>(job.inventory);
    const plan = json<TargetPlan>(job.plan);
    // The receiver is reached only by the steps that need it: once the image is made, a destination
    // instance runs the migrated system (its user data is its own again) and has no receiver left.
    let reached: Promise<{ instance: IntermediateInstance; admin: ControlClient }> | null = null;
    const receiver = () =>
      (reached ??= this.instanceOf(job, s, plan, inventory).then((instance) => ({
        instance,
        admin: createControlClient({ host: instance.host, port: instance.controlPort, fingerprint: instance.fingerprint, token: instance.adminToken, timeoutMs: 60 * 60_000 }),
      })));
    const rid = job.receiver_job_id;
    if (!rid) throw new HoistError("Internal.Error", "the job has no receiver job", { fix: "Cancel the job and create it again." });
    const image = runImageName(s, job.current_run);
    const state: RunState = job.run_state == null ? {} : json<RunState>(job.run_state);
    // A step this run finished already (before a crash, or before the failure a retry follows) is not done again.
    const { report, disks } =
      state.converted ??
      (await this.logStep(
        job,
        "convert",
        async () => {
          // What the receiver did for a replica that died waiting on it is not done again: a
          // conversion it finished (and detached) is taken as it is.
          const { admin } = await receiver();
          const current = await admin.json<{ state: string; conversion?: unknown }>("GET", `/v1/jobs/${rid}`);
          let report = current.conversion;
          if (current.state !== "detached" || report === undefined) {
            // A retry after detach prepares the disks again before converting.
            if (current.state !== "prepared" && current.state !== "converted") await admin.json("POST", `/v1/jobs/${rid}/prepare`, {});
            report = (await admin.json<{ report: unknown }>("POST", `/v1/jobs/${rid}/convert`, { inventory })).report;
          }
          const detached = await admin.json<{ disks: { key: string; rawPath: string; sizeBytes: number }[] }>("POST", `/v1/jobs/${rid}/detach`, {});
          return { report, disks: detached.disks };
        },
        async (tx, converted) => {
          await tx.query("update replication_jobs set pending_image = $2, run_state = coalesce(run_state, '{}'::jsonb) || jsonb_build_object('converted', $3::jsonb) where job_id = $1", [
            job.job_id,
            image,
            JSON.stringify(converted),
          ]);
        },
      ));
    // The image is recorded with the job, and the job moves on, in the transaction that ends the last step.
    let moved = false;
    const recordImage = async (tx: Queryable, verification: "booted" | "failed" | "skipped", bootSeconds: number | null): Promise<void> => {
      await tx.query(
        `insert into job_images (job_id, image_name, region_id, run, verification, boot_seconds) values ($1, $2, $3, $4, $5, $6)
         on conflict (region_id, image_name) do update set job_id = excluded.job_id, run = excluded.run, verification = excluded.verification, boot_seconds = excluded.boot_seconds, created_at = now()`,
        [job.job_id, image, s.RegionId, job.current_run, verification, bootSeconds],
      );
      await tx.query("update replication_jobs set pending_image = null where job_id = $1", [job.job_id]);
      if (verification !== "failed") moved = await this.moveTo(job, "Cleaning", "", [], tx);
    };
    if (!state.imaged) {
      await this.logStep(
        job,
        "image",
        async () => {
          // Only an image this job was making (pending_image) is replaced.
          const { instance } = await receiver();
          if (await this.provider.imageExists(image, s.RegionId)) await this.provider.deleteImage(image, s.RegionId);
          await this.provider.createImage({ name: image, region: s.RegionId, placement: placementOf(s), disks, plan, inventory, conversion: report, instanceId: instance.instanceId, verify: s.VerifyImage });
        },
        async (tx) => {
          if (s.VerifyImage) await tx.query("update replication_jobs set run_state = coalesce(run_state, '{}'::jsonb) || '{\"imaged\": true}'::jsonb where job_id = $1", [job.job_id]);
          else await recordImage(tx, "skipped", null);
        },
      );
      if (!s.VerifyImage) return moved;
    } else if (!s.VerifyImage) {
      await this.db.transaction((tx) => recordImage(tx, "skipped", null));
      return moved;
    }
    const verdict: { failure?: HoistError } = {};
    await this.logStep(
      job,
      "verify",
      () => this.provider.verifyImage(image, s.RegionId, { timeoutSeconds: this.opts.verifyTimeoutSeconds ?? 900, placement: placementOf(s) }),
      async (tx, v) => {
        await tx.query("update replication_jobs set verification = $2::jsonb where job_id = $1", [job.job_id, JSON.stringify(v)]);
        if (v.status === "booted" && v.mountedAll === true) {
          await recordImage(tx, "booted", v.bootSeconds ?? null);
          return;
        }
        if (destinationOf(s)) {
          // The provider put the destination back from its snapshots when its boot failed: the copy on
          // it is gone, so a retry starts over from Preparing and copies the source onto it again.
          verdict.failure = new HoistError("Image.VerifyFailed", `instance ${s.InstanceId} did not boot the migrated system to multi-user with all filesystems mounted: ${v.reason ?? "unknown reason"}`, {
            fix: `The instance was rolled back to its snapshots. Read the console output of its boot (the image ${image} keeps the verdict), fix the cause on the source, then retry the job: it copies the source onto the instance again.`,
          });
          await recordImage(tx, "failed", null);
          // pending_image: the image this failed run made is this job's to replace when it runs again.
          await tx.query(
            `update replication_jobs set instance_id = null, receiver_job_id = null, plan = null, pending_image = $2, business_status = 'Preparing', run_state = null, bytes_done = 0, speed_bps = 0, updated_at = now()
             where job_id = $1 and status = 'Running'`,
            [job.job_id, image],
          );
          return;
        }
        verdict.failure = new HoistError("Image.VerifyFailed", `image ${image} did not boot to multi-user with all filesystems mounted: ${v.reason ?? "unknown reason"}`, {
          fix: `Read the console log ${v.consoleLog ?? ""} and run hoist image check ${image}. The intermediate instance is kept; fix the cause and retry the job.`,
        });
        await recordImage(tx, "failed", null);
      },
    );
    if (verdict.failure) throw verdict.failure;
    return moved;
  }

  /**
   * A TargetInstance job being deleted (cancelled, or deleted while InError or Stopped) before it
   * Finished: the destination goes back to its snapshots, then its temporary disk, the snapshots and
   * Hoist's user data go. A job that Finished leaves it alone. The instance itself always stays.
   */
  private async releaseDestination(job: JobRow, s: ReplicationJobSettings): Promise<void> {
    const destination = destinationOf(s);
    if (!destination || (job.run_count === 0 && !job.instance_id)) return; // never started: nothing on it changed
    if (!this.provider.migratesOntoInstances) {
      this.log.warn("the job's destination instance cannot be rolled back by this server's provider; it is left as it is", { jobId: job.job_id, instanceId: destination, provider: this.provider.name });
      return;
    }
    const placement = placementOf(s);
    // Finished (the migrated system booted, or needed no boot check, and the clean step let go of the
    // instance): it runs the migrated system, and any snapshots on it now are a later job's.
    const landed = (await this.db.query("select 1 from job_images where job_id = $1 and verification in ('booted', 'skipped') limit 1", [job.job_id])).length > 0;
    if (landed && !job.instance_id) return;
    await this.provider.rollbackDestination?.(placement);
    this.log.info("destination instance rolled back to its snapshots", { jobId: job.job_id, instanceId: destination });
    await this.provider.releaseIntermediateInstance(destination, placement);
  }

  private async cleaning(job: JobRow, s: ReplicationJobSettings): Promise<boolean> {
    if (!s.RunOnce) {
      const keep = s.MaxNumberOfImageToKeep ?? 1;
      // The intermediate instance stays: the next run copies only what changed.
      // EndTime is when this run ended; a new Frequency counts from it.
      const next = new Date(Date.now() + (s.Frequency ?? 1) * this.hourSeconds * 1000);
      let waiting = false;
      await this.logStep(
        job,
        "clean",
        async () => {
          const images = await this.db.query<{ image_name: string; region_id: string }>(
            "select image_name, region_id from job_images where job_id = $1 order by run desc, created_at desc offset $2",
            [job.job_id, keep],
          );
          for (const img of images) {
            if (await this.provider.imageExists(img.image_name, img.region_id)) await this.provider.deleteImage(img.image_name, img.region_id);
            await this.db.query("delete from job_images where region_id = $1 and image_name = $2", [img.region_id, img.image_name]);
            this.log.info("old image deleted", { jobId: job.job_id, image: img.image_name, keep });
          }
        },
        async (tx) => {
          const rows = await tx.query(
            `update replication_jobs set status = 'Waiting', business_status = null, current_run = 0, speed_bps = 0, next_run_at = $2, ended_at = now(), updated_at = now()
             where job_id = $1 and status = 'Running' and business_status = 'Cleaning' returning job_id`,
            [job.job_id, next],
          );
          waiting = rows.length > 0;
        },
      );
      if (waiting) await this.send(job.job_id, next);
      return false;
    }
    await this.logStep(
      job,
      "clean",
      async () => {
        // A destination instance stays (its temporary disk and rollback snapshots go); an intermediate instance is released.
        const instanceId = destinationOf(s) ?? job.instance_id;
        if (instanceId) await this.provider.releaseIntermediateInstance(instanceId, placementOf(s));
      },
      async (tx) => {
        const rows = await tx.query(
          `update replication_jobs set status = 'Finished', instance_id = null, speed_bps = 0, ended_at = now(), updated_at = now()
           where job_id = $1 and status = 'Running' and business_status = 'Cleaning' returning job_id`,
          [job.job_id],
        );
        if (rows.length > 0) await freeSourceIfIdle(tx, job.source_id);
      },
    );
    this.log.info("job finished", { jobId: job.job_id });
    return false;
  }
}

function errorOfTask(result: unknown, fallback: string): HoistError {
  const r = result == null ? null : json<{ ok: boolean; error?: { code: string; message: string; fix?: string } }>(result);
  const e = r?.error;
  return new HoistError(e?.code ?? fallback, e?.message ?? "the agent reported a failure", { fix: e?.fix ?? "Read the agent's log on the source, then retry the job." });
}

/**
 * The tasks to hand a source's agent with its heartbeat. A transfer task gets a
 * fresh receiver token for this delivery (the previous one stops working for
 * new connections), the job's current settings, and their version.
 */
export async function tasksForAgent(db: Database, provider: Provider, sourceId: string, runningTaskIds: readonly string[]): Promise<AgentTask[]> {
  const open = await openTasksFor(db, sourceId, runningTaskIds);
  const out: AgentTask[] = [];
  for (const task of open) {
    const payload = taskPayload(task);
    if (payload.kind === "inventory") {
      // The payload is the task as the agent reads it, less the ids: hand all of it over.
      out.push({ ...payload, taskId: task.task_id, jobId: task.job_id });
      await markDelivered(db, task.task_id);
      continue;
    }
    const job = (await db.query<JobRow>("select * from replication_jobs where job_id = $1 and status = 'Running' and business_status = 'Syncing'", [task.job_id]))[0];
    if (!job?.instance_id || !job.receiver_job_id) continue;
    const instance = await provider.findIntermediateInstance(job.instance_id, placementOf(json<ReplicationJobSettings>(job.settings)));
    if (!instance) continue;
    const admin = createControlClient({ host: instance.host, port: instance.controlPort, fingerprint: instance.fingerprint, token: instance.adminToken });
    const { token } = await admin.json<{ token: string }>("POST", `/v1/jobs/${job.receiver_job_id}/token`, {});
    out.push({
      taskId: task.task_id,
      jobId: task.job_id,
      kind: "transfer",
      receiver: { host: instance.host, dataPort: instance.dataPort, fingerprint: instance.fingerprint },
      receiverJobId: job.receiver_job_id,
      token,
      disks: payload.disks,
      settings: transferSettingsOf(json<ReplicationJobSettings>(job.settings)),
      settingsVersion: job.settings_version,
    });
    await markDelivered(db, task.task_id);
  }
  return out;
}

// What the replication job API tests share: two `hoist server` replicas on
// one database (two handles on PostgreSQL, one on PGlite), background work
// that records what it was asked and does the database part of a release,
// sources imported with real activation codes, and a few direct UPDATEs to
// put a job where the orchestrator would have taken it. Replicas a and b take
// jobs onto existing instances (as with --provider alibaba); a third replica,
// started when a test asks for it, has the local provider's targets (images only).
import { type BusinessStatus, HoistError, type JobStatus, type SourceInventory, TARGET_TYPES } from "@hoist/protocol";
import { createLocalProvider } from "@hoist/providers";
import { startInProcessServer } from "../../../../test/helpers/api-server";
import type { Database } from "../db/database";
import { inventoryFixture } from "../db/db-suite";
import type { RunningServer } from "../server";
import { createActivationCode } from "../store/activation-codes";
import { registerSource } from "../store/sources";
import { finishRelease } from "./release";
import { type JobTargets, jobTargetsOf } from "./store";
import type { JobWork } from "./work";

export interface JobApiDbs {
  name: string;
  newDb: () => Promise<Database>;
  /** A second handle on the same database, as another replica holds. */
  sameDb: (db: Database) => Promise<Database>;
}

export const API_KEY = "hk_job-api-tests-0123456789abcdefghijklmnop";
export const REGION = "test-region-1";

/** Background work that records each call; a release also removes the job, as the orchestrator's does after its provider part. */
export class RecordingWork implements JobWork {
  readonly starts: { jobId: string; at: string | undefined }[] = [];
  readonly releases: string[] = [];
  /** Set to make start fail as a queue that cannot be reached would. */
  failStart = false;
  /** Set to record releases without doing them (to look at a job while it is Deleting). */
  holdReleases = false;

  constructor(private readonly db: Database) {}

  async start(jobId: string, startAfter?: Date): Promise<void> {
    if (this.failStart) throw new HoistError("Queue.Unavailable", "the job queue cannot be reached", { retryable: true, fix: "Check the database, then retry the job." });
    this.starts.push({ jobId, at: startAfter?.toISOString() });
  }

  async release(jobId: string): Promise<void> {
    this.releases.push(jobId);
    if (!this.holdReleases) await finishRelease(this.db, jobId);
  }
}

export interface Reply {
  status: number;
  body: Record<string, unknown>;
}

export interface Replica {
  server: RunningServer;
  work: RecordingWork;
  call(method: string, path: string, body?: unknown): Promise<Reply>;
}

export interface Harness {
  db: Database;
  a: Replica;
  b: Replica;
  /** A replica whose jobs have the local provider's targets (images only), started on first use. */
  local(): Promise<Replica>;
  /** Imports a source (its agent token too); its inventory has mounts /, /boot and /data. */
  newSource(inventory?: Partial<SourceInventory>): Promise<{ sourceId: string; agentToken: string }>;
  /** POST /v1/jobs on replica a for a new source, unless the body names one. */
  createJob(body?: Record<string, unknown>): Promise<Reply & { jobId: string; sourceId: string }>;
  /** Puts a job into a Status as the orchestrator would have, keeping its source's State consistent. */
  setStatus(jobId: string, status: JobStatus, business?: BusinessStatus | null): Promise<void>;
  starts(jobId: string): { jobId: string; at: string | undefined }[];
  releases(jobId: string): string[];
  close(): Promise<void>;
}

export function sourceInventory(overrides: Partial<SourceInventory> = {}): SourceInventory {
  const mount = (mountPoint: string, device: string) => ({ mountPoint, device, fs: "ext4", sizeBytes: 50 * 2 ** 30, usedBytes: 2 ** 30 });
  return { ...inventoryFixture("web-1"), mounts: [mount("/", "/dev/vda1"), mount("/boot", "/dev/vda2"), mount("/data", "/dev/vdb1")], ...overrides };
}

async function replica(db: Database, targets: JobTargets): Promise<Replica> {
  const work = new RecordingWork(db);
  // Heartbeats every second make the sweep run every second; sources are
  // registered with a long heartbeat of their own, so none goes offline.
  const { server } = await startInProcessServer({ db, apiKey: API_KEY, heartbeatSeconds: 1, offlineAfterSeconds: 86_400, regionId: REGION, work, targets });
  return {
    server,
    work,
    async call(method, path, body) {
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    },
  };
}

export async function startHarness(dbs: JobApiDbs): Promise<Harness> {
  const db = await dbs.newDb();
  const instances: JobTargets = { targetTypes: TARGET_TYPES };
  const a = await replica(db, instances);
  const other = await dbs.sameDb(db);
  const b = await replica(other, instances);
  // The local provider's own word on what it makes; it is not started (the API alone is under test).
  let local: Promise<Replica> | null = null;
  let n = 0;
  const newSource = async (inventory: Partial<SourceInventory> = {}) => {
    const code = await createActivationCode(db, { uses: 1, validityDays: 1, description: "" });
    n += 1;
    const { source, agentToken } = await registerSource(db, { activationCode: code.code, name: `src-${n}`, inventory: sourceInventory(inventory), heartbeatSeconds: 3600 });
    return { sourceId: source.sourceId, agentToken };
  };
  return {
    db,
    a,
    b,
    local: () => (local ??= replica(db, jobTargetsOf(createLocalProvider()))),
    newSource,
    async createJob(body = {}) {
      const sourceId = typeof body["SourceId"] === "string" ? body["SourceId"] : (await newSource()).sourceId;
      const r = await a.call("POST", "/v1/jobs", { SourceId: sourceId, ...body });
      return { ...r, jobId: r.body["JobId"] as string, sourceId };
    },
    async setStatus(jobId, status, business = null) {
      await db.transaction(async (tx) => {
        const rows = await tx.query<{ source_id: string }>("update replication_jobs set status = $2, business_status = $3 where job_id = $1 returning source_id", [jobId, status, business]);
        const holds = status !== "Finished" && status !== "Expired";
        await tx.query("update sources set state = $2 where source_id = $1", [rows[0]?.source_id, holds ? "InUse" : "Available"]);
      });
    },
    starts: (jobId) => [...a.work.starts, ...b.work.starts].filter((s) => s.jobId === jobId),
    releases: (jobId) => [...a.work.releases, ...b.work.releases].filter((id) => id === jobId),
    async close() {
      await a.server.close();
      await b.server.close();
      if (local) await (await local).server.close();
      if (other !== db) await other.close();
      await db.close();
    },
  };
}

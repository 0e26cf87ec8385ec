// Jobs live as DIR/jobs/<jobId>/job.json (0600) so they survive a restart.
// Only the SHA-256 of a job's token is ever written.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { HoistError, JobIdSchema, type ReceiverJob, ReceiverJobSchema, type TargetPlan } from "@hoist/protocol";
import { z } from "zod";
import { sha256Hex } from "./auth";
import { writeFileAtomic } from "./state";

const StoredJobSchema = ReceiverJobSchema.extend({ tokenSha256: z.string().regex(/^[0-9a-f]{64}$/) });
export type StoredJob = z.infer<typeof StoredJobSchema>;

export class JobStore {
  constructor(private readonly jobsDir: string) {}

  jobDir(jobId: string): string {
    if (!JobIdSchema.safeParse(jobId).success) throw new HoistError("Receiver.BadJobId", `"${jobId}" is not a job id`);
    return join(this.jobsDir, jobId);
  }

  async create(plan: TargetPlan, label: string | undefined): Promise<{ job: StoredJob; token: string }> {
    const jobId = `j-${randomBytes(8).toString("hex")}`;
    const token = randomBytes(32).toString("hex");
    const job: StoredJob = {
      jobId,
      ...(label === undefined ? {} : { label }),
      state: "created",
      createdAt: new Date().toISOString(),
      plan,
      disks: [],
      tokenSha256: sha256Hex(token),
    };
    await mkdir(this.jobDir(jobId), { recursive: true, mode: 0o700 });
    await this.save(job);
    return { job, token };
  }

  /** Issues a new token for a job; the previous one stops working for new connections. */
  async rotateToken(job: StoredJob): Promise<string> {
    const token = randomBytes(32).toString("hex");
    await this.save({ ...job, tokenSha256: sha256Hex(token) });
    return token;
  }

  async get(jobId: string): Promise<StoredJob | undefined> {
    if (!JobIdSchema.safeParse(jobId).success) return undefined;
    let text: string;
    try {
      text = await readFile(join(this.jobDir(jobId), "job.json"), "utf8");
    } catch {
      return undefined;
    }
    return StoredJobSchema.parse(JSON.parse(text));
  }

  async save(job: StoredJob): Promise<void> {
    await writeFileAtomic(join(this.jobDir(job.jobId), "job.json"), `${JSON.stringify(job, null, 2)}\n`);
  }

  async remove(jobId: string): Promise<void> {
    await rm(this.jobDir(jobId), { recursive: true, force: true });
  }
}

/** The job as the API shows it: everything but the token digest. */
export function publicJob(job: StoredJob): ReceiverJob {
  const { tokenSha256: _t, ...rest } = job;
  return rest;
}

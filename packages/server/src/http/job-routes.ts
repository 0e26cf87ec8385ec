// Replication job endpoints (API key): SMC's CreateReplicationJob,
// DescribeReplicationJobs, Start/Stop/Cancel/DeleteReplicationJob and
// ModifyReplicationJobAttribute, plus retry and the images the jobs made.
import { CreateReplicationJobRequestSchema, HoistError, JOB_STATUSES, ModifyReplicationJobRequestSchema } from "@hoist/protocol";
import { isJobStatus, createJob, expireJobs, listImages, listJobs, mustGetJob } from "../jobs/store";
import { cancelJob, deleteJob, modifyJob, retryJob, startJob, stopJob } from "../jobs/transitions";
import { CREATE_ERROR_CODES, MODIFY_ERROR_CODES, validateModifyJob } from "../jobs/validate";
import { getSource, sourceNotFound } from "../store/sources";
import type { Route } from "./router";
import { intParam, type RouteDeps } from "./routes";

const jobIdOf = (params: Record<string, string>): string => params["jobId"] as string;

const PAGING = [
  { name: "limit", description: "Page size, 1–1000 (default 100)", schema: { type: "integer", minimum: 1, maximum: 1000 } },
  { name: "offset", description: "Jobs to skip (default 0)", schema: { type: "integer", minimum: 0, maximum: 1_000_000_000 } },
];

const STATUS_CODES = ["ReplicationJob.NotFound", "ReplicationJob.InvalidStatus"];

export function buildJobRoutes(deps: RouteDeps): Route[] {
  const { db, work } = deps;
  const action = (name: "start" | "stop" | "retry" | "cancel", operationId: string, summary: string, responses: Record<number, string>): Route => ({
    method: "POST",
    path: `/v1/jobs/:jobId/${name}`,
    operationId,
    summary,
    auth: "apiKey",
    responses: { ...responses, 400: "The job's Status does not allow it (ReplicationJob.InvalidStatus, with the current Status)", 404: "No such job" },
    errorCodes: STATUS_CODES,
    async handle(ctx) {
      const id = jobIdOf(ctx.params);
      switch (name) {
        case "start":
          return { status: 200, body: await startJob(db, work, id) };
        case "retry":
          return { status: 200, body: await retryJob(db, work, id) };
        case "stop":
          return { status: 200, body: await stopJob(db, id) };
        case "cancel":
          return { status: 200, body: await cancelJob(db, work, id) };
      }
    },
  });

  return [
    {
      method: "POST",
      path: "/v1/jobs",
      operationId: "createReplicationJob",
      summary: "Create a replication job for an Available source; ExecutionMethod Now (default) runs it, Scheduled waits for ScheduledStartTime, CreateOnly leaves it Ready",
      auth: "apiKey",
      body: CreateReplicationJobRequestSchema,
      responses: { 201: "The job", 400: "An invalid field (its own code), a source that is not Available, one that has an unfinished job, or a destination instance that another unfinished job migrates onto", 404: "No such source" },
      errorCodes: [...CREATE_ERROR_CODES, "SourceServer.NotFound", "SourceServerState.Invalid", "ReplicationJob.SourceBusy", "ReplicationJob.DestinationBusy"],
      async handle(ctx) {
        return { status: 201, body: await createJob(db, work, ctx.body, { regionId: deps.regionId, ...(deps.targets ? { targets: deps.targets } : {}) }) };
      },
    },
    {
      method: "GET",
      path: "/v1/jobs",
      operationId: "describeReplicationJobs",
      summary: "List replication jobs, newest first",
      auth: "apiKey",
      query: [
        { name: "status", description: `Only jobs in this Status (${JOB_STATUSES.join(", ")})`, schema: { type: "string", enum: [...JOB_STATUSES] } },
        { name: "sourceId", description: "Only jobs of this source", schema: { type: "string", maxLength: 64 } },
        { name: "name", description: "Only jobs whose name contains this text (case-insensitive, taken literally)", schema: { type: "string", maxLength: 128 } },
        ...PAGING,
      ],
      responses: { 200: "{ total, jobs: [...] }", 400: "Invalid filter" },
      errorCodes: ["ReplicationJob.InvalidStatusFilter", "ReplicationJob.InvalidNameFilter", "Api.InvalidParameter"],
      async handle(ctx) {
        const status = ctx.query.get("status");
        if (status !== null && !isJobStatus(status)) {
          throw new HoistError("ReplicationJob.InvalidStatusFilter", `status must be one of ${JOB_STATUSES.join(", ")} (got "${status}")`, { fix: "Pass a valid Status or leave it out." });
        }
        const name = ctx.query.get("name");
        if (name !== null && (name.length === 0 || name.length > 128)) {
          throw new HoistError("ReplicationJob.InvalidNameFilter", "name must be 1–128 characters", { fix: "Pass part of a job's name or leave it out." });
        }
        const sourceId = ctx.query.get("sourceId");
        if (sourceId !== null && (sourceId.length === 0 || sourceId.length > 64)) {
          throw new HoistError("Api.InvalidParameter", "sourceId must be a source's id", { fix: "Pass a SourceId from GET /v1/sources or leave it out." });
        }
        const limit = intParam(ctx.query, "limit", 1, 1000, 100);
        const offset = intParam(ctx.query, "offset", 0, 1_000_000_000, 0);
        await expireJobs(db);
        return { status: 200, body: await listJobs(db, { status: status ?? undefined, sourceId: sourceId ?? undefined, name: name ?? undefined, limit, offset }) };
      },
    },
    {
      method: "GET",
      path: "/v1/jobs/:jobId",
      operationId: "describeReplicationJob",
      summary: "One replication job with its progress and images",
      auth: "apiKey",
      responses: { 200: "The job", 404: "No such job" },
      errorCodes: ["ReplicationJob.NotFound"],
      async handle(ctx) {
        await expireJobs(db);
        return { status: 200, body: await mustGetJob(db, jobIdOf(ctx.params)) };
      },
    },
    action("start", "startReplicationJob", "Start a Ready job, resume a Stopped one, retry an InError one, or run a Waiting one now", { 200: "The job, Running" }),
    action("stop", "stopReplicationJob", "Pause a job that is copying (Running: Preparing or Syncing), or a Waiting one; its agent stops copying", { 200: "The job, Stopped" }),
    action("retry", "retryReplicationJob", "Run an InError job again from where it stopped", { 200: "The job, Running" }),
    action("cancel", "cancelReplicationJob", "Cancel a job (any Status but Finished and Deleting): stop it, release its intermediate instance and delete it", { 200: "The job, Deleting (gone once released)" }),
    {
      method: "POST",
      path: "/v1/jobs/:jobId/modify",
      operationId: "modifyReplicationJobAttribute",
      summary: "Change a job's name, description, tags, transfer settings (the agent restarts its copy with them), schedule or ValidTime",
      auth: "apiKey",
      body: ModifyReplicationJobRequestSchema,
      responses: { 200: "The job", 400: "An invalid field, a Status that does not allow the change, or a periodic setting on a run-once job", 404: "No such job" },
      errorCodes: [...MODIFY_ERROR_CODES, ...STATUS_CODES, "ReplicationJob.NotPeriodic"],
      async handle(ctx) {
        return { status: 200, body: await modifyJob(db, jobIdOf(ctx.params), validateModifyJob(ctx.body, new Date())) };
      },
    },
    {
      method: "DELETE",
      path: "/v1/jobs/:jobId",
      operationId: "deleteReplicationJob",
      summary: "Delete a job that is not running: its intermediate instance is released and the job removed; its images stay",
      auth: "apiKey",
      responses: { 202: "{ JobId, Status: Deleting }", 400: "The job is Running (stop or cancel it first)", 404: "No such job" },
      errorCodes: STATUS_CODES,
      async handle(ctx) {
        return { status: 202, body: await deleteJob(db, work, jobIdOf(ctx.params)) };
      },
    },
    {
      method: "GET",
      path: "/v1/images",
      operationId: "listJobImages",
      summary: "The images replication jobs made, newest first, each with its JobId",
      auth: "apiKey",
      query: [{ name: "jobId", description: "Only this job's images", schema: { type: "string", maxLength: 64 } }],
      responses: { 200: "{ images: [...] }" },
      errorCodes: ["Api.InvalidParameter"],
      async handle(ctx) {
        const jobId = ctx.query.get("jobId");
        if (jobId !== null && (jobId.length === 0 || jobId.length > 64)) {
          throw new HoistError("Api.InvalidParameter", "jobId must be a job's id", { fix: "Pass a JobId from GET /v1/jobs or leave it out." });
        }
        return { status: 200, body: { images: await listImages(db, { jobId: jobId ?? undefined }) } };
      },
    },
    {
      method: "GET",
      path: "/v1/sources/:sourceId/jobs",
      operationId: "listSourceJobs",
      summary: "A source's replication jobs, newest first",
      auth: "apiKey",
      query: PAGING,
      responses: { 200: "{ total, jobs: [...] }", 404: "No such source" },
      errorCodes: ["SourceServer.NotFound", "Api.InvalidParameter"],
      async handle(ctx) {
        const sourceId = ctx.params["sourceId"] as string;
        const limit = intParam(ctx.query, "limit", 1, 1000, 100);
        const offset = intParam(ctx.query, "offset", 0, 1_000_000_000, 0);
        if (!(await getSource(db, sourceId))) throw sourceNotFound(sourceId);
        await expireJobs(db);
        return { status: 200, body: await listJobs(db, { sourceId, limit, offset }) };
      },
    },
  ];
}

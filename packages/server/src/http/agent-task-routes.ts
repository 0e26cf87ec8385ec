// The endpoints an imported agent reports its tasks on: progress while it
// copies (answered with "go on, with these settings" or "stop"), and the
// result when a task ends. Both need the agent's own token, and a task is
// visible only to the source it belongs to.
import { HoistError, TaskProgressRequestSchema, TaskResultRequestSchema, type TransferSettings } from "@hoist/protocol";
import type { Database } from "../db/database";
import { recordProgress, recordResult, taskNotFound, taskOfSource } from "../jobs/agent-tasks";
import { hashSecret } from "../store/secrets";
import type { RequestContext, Route } from "./router";
import { parseBody } from "./routes";

export interface AgentTaskRouteDeps {
  db: Database;
  onAgentAuthFailure(ctx: RequestContext): void;
  /** The job's current transfer settings. */
  settingsOf(jobId: string): Promise<{ settings: TransferSettings; settingsVersion: number } | null>;
  /** Asks the orchestrator to look at the job again (a task ended). */
  wake(jobId: string): Promise<void>;
}

async function agentSource(deps: AgentTaskRouteDeps, ctx: RequestContext): Promise<string> {
  const rows = ctx.bearer ? await deps.db.query<{ source_id: string }>("select source_id from sources where agent_token_hash = $1 and state <> 'Deleting'", [hashSecret(ctx.bearer)]) : [];
  const id = rows[0]?.source_id;
  if (!id) {
    deps.onAgentAuthFailure(ctx);
    throw new HoistError("Agent.Unauthorized", "this agent's token is not valid on this server (the source may have been deleted)", { fix: "Import the source again with a new activation code." });
  }
  return id;
}

export function agentTaskRoutes(deps: AgentTaskRouteDeps): Route[] {
  return [
    {
      method: "POST",
      path: "/v1/agents/tasks/:taskId/progress",
      operationId: "reportTaskProgress",
      summary: "An agent reports how far its copy is; the answer says go on (with the job's current settings) or stop",
      auth: "agent",
      body: TaskProgressRequestSchema,
      responses: { 200: "{ action: continue | stop, settings?, settingsVersion? }", 401: "Unknown agent token", 404: "No such task for this source" },
      errorCodes: ["Agent.Unauthorized", "AgentTask.NotFound", "Api.InvalidBody"],
      async handle(ctx) {
        const sourceId = await agentSource(deps, ctx);
        const report = parseBody(TaskProgressRequestSchema, ctx.body);
        const task = await taskOfSource(deps.db, ctx.params["taskId"] as string, sourceId);
        if (!task) throw taskNotFound(ctx.params["taskId"] as string);
        return { status: 200, body: await recordProgress(deps.db, task, report, deps.settingsOf) };
      },
    },
    {
      method: "POST",
      path: "/v1/agents/tasks/:taskId/result",
      operationId: "reportTaskResult",
      summary: "An agent reports that a task ended, with its result or its error",
      auth: "agent",
      body: TaskResultRequestSchema,
      responses: { 200: "{ taskId, state }", 401: "Unknown agent token", 404: "No such task for this source", 409: "The task was cancelled or already ended" },
      errorCodes: ["Agent.Unauthorized", "AgentTask.NotFound", "AgentTask.NotRunning", "Api.InvalidBody"],
      async handle(ctx) {
        const sourceId = await agentSource(deps, ctx);
        const report = parseBody(TaskResultRequestSchema, ctx.body);
        const taskId = ctx.params["taskId"] as string;
        const task = await taskOfSource(deps.db, taskId, sourceId);
        if (!task) throw taskNotFound(taskId);
        if (!(await recordResult(deps.db, task, report))) {
          throw new HoistError("AgentTask.NotRunning", `task ${taskId} is ${task.state}; the server no longer waits for it`, { fix: "Nothing to do: the job was paused, cancelled or moved on." });
        }
        await deps.wake(task.job_id);
        return { status: 200, body: { taskId, state: report.ok ? "done" : "failed" } };
      },
    },
  ];
}

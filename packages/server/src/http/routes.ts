// The API's endpoints. API-key routes are for people and scripts; agent routes
// take an activation code (register) or the agent's own token (heartbeat).
import { existsSync, readFileSync } from "node:fs";
import { type AgentTask, CreateActivationCodeRequestSchema, HeartbeatRequestSchema, HoistError, RegisterAgentRequestSchema, SOURCE_STATES, type SourceState } from "@hoist/protocol";
import type { Database } from "../db/database";
import type { JobTargets } from "../jobs/store";
import type { JobWork } from "../jobs/work";
import { createActivationCode, listActivationCodes, validateNewCode } from "../store/activation-codes";
import { deleteSource, getSource, listSources, markOfflineSources, recordHeartbeat, registerSource, sourceNotFound } from "../store/sources";
import { buildJobRoutes } from "./job-routes";
import type { RequestContext, Route } from "./router";

export interface RouteDeps {
  db: Database;
  heartbeatSeconds: number;
  offlineAfterSeconds: number;
  /** The bundled CLI this server runs from, offered to sources by the install command. */
  agentBundle?: string | undefined;
  /** Counts a wrong activation code or agent token against the caller's address. */
  onAgentAuthFailure(ctx: RequestContext): void;
  /** Work to hand a source's agent with its heartbeat. */
  tasksFor?(sourceId: string, runningTaskIds: readonly string[]): Promise<AgentTask[]>;
  /** Runs and releases replication jobs in the background. */
  work: JobWork;
  /** The region images go to when a job names none. */
  regionId: string;
  /** What jobs may target with the server's provider (an existing instance needs one that migrates onto instances). */
  targets?: JobTargets;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The one line an operator runs as root on a source to import it. */
export function installCommand(baseUrl: string, code: string): string {
  const server = shellQuote(baseUrl);
  return [
    `curl -fsSL ${shellQuote(`${baseUrl}/v1/downloads/hoist.mjs`)} -o /usr/local/lib/hoist.mjs &&`,
    `nohup node /usr/local/lib/hoist.mjs agent --activation-code ${shellQuote(code)} --server ${server} --state-dir /var/lib/hoist/agent`,
    ">>/var/log/hoist-agent.log 2>&1 &",
  ].join(" ");
}

export function intParam(query: URLSearchParams, name: string, min: number, max: number, fallback: number): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) {
    throw new HoistError("Api.InvalidParameter", `${name} must be a whole number from ${min} to ${max} (got "${raw}")`, { fix: `Pass ${name}=${min}…${max} or leave it out.` });
  }
  return n;
}

export function parseBody<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } } }, body: unknown): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const where = first?.path.length ? first.path.map(String).join(".") : "body";
  throw new HoistError("Api.InvalidBody", `${where}: ${first?.message ?? "invalid request body"}`, { fix: "Check the request against /v1/openapi.json." });
}

export function buildRoutes(deps: RouteDeps): Route[] {
  const { db } = deps;
  return [
    {
      method: "POST",
      path: "/v1/activation-codes",
      operationId: "createActivationCode",
      summary: "Create an activation code; the answer holds the code and the install command (shown once)",
      auth: "apiKey",
      body: CreateActivationCodeRequestSchema,
      responses: { 201: "The code, its id, expiry and the command to run on sources", 400: "Invalid uses, validityDays or description" },
      errorCodes: ["ActivationCode.InvalidUses", "ActivationCode.InvalidValidity", "ActivationCode.InvalidDescription", "Api.InvalidBody"],
      async handle(ctx) {
        if (typeof ctx.body !== "object" || ctx.body === null || Array.isArray(ctx.body)) throw new HoistError("Api.InvalidBody", "the body must be a JSON object");
        const unknown = Object.keys(ctx.body).filter((k) => !["uses", "validityDays", "description"].includes(k));
        if (unknown.length) throw new HoistError("Api.InvalidBody", `unknown field(s): ${unknown.join(", ")}`, { fix: "Send only uses, validityDays and description." });
        const made = await createActivationCode(db, validateNewCode(ctx.body as Record<string, unknown>));
        return { status: 201, body: { ...made, command: installCommand(ctx.baseUrl, made.code) } };
      },
    },
    {
      method: "GET",
      path: "/v1/activation-codes",
      operationId: "listActivationCodes",
      summary: "List activation codes with their remaining uses and expiry (never the codes themselves)",
      auth: "apiKey",
      responses: { 200: "{ codes: [...] }" },
      async handle() {
        return { status: 200, body: { codes: await listActivationCodes(db) } };
      },
    },
    {
      method: "POST",
      path: "/v1/agents/register",
      operationId: "registerAgent",
      summary: "Import a source: redeems one use of an activation code and issues the agent its own token",
      auth: "none",
      body: RegisterAgentRequestSchema,
      responses: { 201: "{ sourceId, agentToken, heartbeatSeconds }", 400: "Invalid body", 401: "Unknown activation code", 403: "Expired or used-up activation code" },
      errorCodes: ["ActivationCode.Invalid", "ActivationCode.Expired", "ActivationCode.UsedUp", "Api.InvalidBody"],
      async handle(ctx) {
        const req = parseBody(RegisterAgentRequestSchema, ctx.body);
        try {
          const { source, agentToken } = await registerSource(db, { ...req, heartbeatSeconds: deps.heartbeatSeconds });
          return { status: 201, body: { sourceId: source.sourceId, agentToken, heartbeatSeconds: deps.heartbeatSeconds } };
        } catch (e) {
          if (e instanceof HoistError && e.code === "ActivationCode.Invalid") deps.onAgentAuthFailure(ctx);
          throw e;
        }
      },
    },
    {
      method: "POST",
      path: "/v1/agents/heartbeat",
      operationId: "agentHeartbeat",
      summary: "An imported agent reports it is alive (optionally with a fresh inventory)",
      auth: "agent",
      body: HeartbeatRequestSchema,
      responses: { 200: "{ sourceId, state, heartbeatSeconds, tasks? }", 401: "Unknown or revoked agent token (the source was deleted)" },
      errorCodes: ["Agent.Unauthorized", "Api.InvalidBody"],
      async handle(ctx) {
        const req = parseBody(HeartbeatRequestSchema, ctx.body);
        const source = ctx.bearer ? await recordHeartbeat(db, ctx.bearer, req) : null;
        if (!source) {
          deps.onAgentAuthFailure(ctx);
          throw new HoistError("Agent.Unauthorized", "this agent's token is not valid on this server (the source may have been deleted)", {
            fix: "Import the source again with a new activation code.",
          });
        }
        const tasks = deps.tasksFor ? await deps.tasksFor(source.sourceId, req.runningTaskIds ?? []) : [];
        return { status: 200, body: { sourceId: source.sourceId, state: source.state, heartbeatSeconds: deps.heartbeatSeconds, ...(tasks.length ? { tasks } : {}) } };
      },
    },
    {
      method: "GET",
      path: "/v1/sources",
      operationId: "listSources",
      summary: "List source servers, newest first",
      auth: "apiKey",
      query: [
        { name: "state", description: `Only sources in this State (${SOURCE_STATES.join(", ")})`, schema: { type: "string", enum: [...SOURCE_STATES] } },
        { name: "name", description: "Only sources whose name contains this text (case-insensitive, taken literally)", schema: { type: "string", maxLength: 128 } },
        { name: "limit", description: "Page size, 1–1000 (default 100)", schema: { type: "integer", minimum: 1, maximum: 1000 } },
        { name: "offset", description: "Sources to skip (default 0)", schema: { type: "integer", minimum: 0, maximum: 1_000_000_000 } },
      ],
      responses: { 200: "{ total, sources: [...] }", 400: "Invalid filter" },
      errorCodes: ["SourceServer.InvalidStateFilter", "SourceServer.InvalidNameFilter", "Api.InvalidParameter"],
      async handle(ctx) {
        const state = ctx.query.get("state");
        if (state !== null && !(SOURCE_STATES as readonly string[]).includes(state)) {
          throw new HoistError("SourceServer.InvalidStateFilter", `state must be one of ${SOURCE_STATES.join(", ")} (got "${state}")`, { fix: "Pass a valid State or leave it out." });
        }
        const name = ctx.query.get("name");
        if (name !== null && (name.length === 0 || name.length > 128)) {
          throw new HoistError("SourceServer.InvalidNameFilter", "name must be 1–128 characters", { fix: "Pass part of a source's name or leave it out." });
        }
        const limit = intParam(ctx.query, "limit", 1, 1000, 100);
        const offset = intParam(ctx.query, "offset", 0, 1_000_000_000, 0);
        await markOfflineSources(db, deps.offlineAfterSeconds);
        return { status: 200, body: await listSources(db, { state: (state ?? undefined) as SourceState | undefined, name: name ?? undefined, limit, offset }) };
      },
    },
    {
      method: "GET",
      path: "/v1/sources/:sourceId",
      operationId: "getSource",
      summary: "One source server with its full inventory",
      auth: "apiKey",
      responses: { 200: "The source", 404: "No such source" },
      errorCodes: ["SourceServer.NotFound"],
      async handle(ctx) {
        const id = ctx.params["sourceId"] as string;
        await markOfflineSources(db, deps.offlineAfterSeconds);
        const source = await getSource(db, id);
        if (!source) throw sourceNotFound(id);
        return { status: 200, body: source };
      },
    },
    {
      method: "DELETE",
      path: "/v1/sources/:sourceId",
      operationId: "deleteSource",
      summary: "Delete a source server (State Deleting, then gone); its agent's token stops working",
      auth: "apiKey",
      responses: { 202: "{ sourceId, state: Deleting }", 400: "The source is InUse", 404: "No such source" },
      errorCodes: ["SourceServer.NotFound", "SourceServerState.Invalid"],
      async handle(ctx) {
        const deleted = await deleteSource(db, ctx.params["sourceId"] as string);
        return { status: 202, body: { sourceId: deleted.sourceId, state: deleted.state } };
      },
    },
    {
      method: "GET",
      path: "/v1/downloads/hoist.mjs",
      operationId: "downloadAgent",
      summary: "The hoist CLI bundle that sources run as `node hoist.mjs agent …`",
      auth: "none",
      responses: { 200: "JavaScript (ESM) for Node.js 20", 404: "This server does not run from a bundle" },
      errorCodes: ["Download.NotFound"],
      async handle() {
        if (!deps.agentBundle || !existsSync(deps.agentBundle)) {
          throw new HoistError("Download.NotFound", "this server does not run from the bundled CLI, so it has no hoist.mjs to offer", {
            fix: "Copy apps/hoist/dist/hoist.mjs to the source yourself, or run hoist server from the built CLI.",
          });
        }
        return { status: 200, raw: readFileSync(deps.agentBundle), contentType: "text/javascript; charset=utf-8" };
      },
    },
    ...buildJobRoutes(deps),
  ];
}

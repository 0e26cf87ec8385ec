// Source servers: imported by an agent with an activation code, kept alive by
// its heartbeats. Liveness is judged by the database's clock (now()), so every
// replica agrees on who is offline.
import { HoistError, type SourceInventory, type SourceServer, type SourceServerDetail, type SourceState } from "@hoist/protocol";
import type { Database, Queryable } from "../db/database";
import { redeemActivationCode } from "./activation-codes";
import { iso, json } from "./rows";
import { hashSecret, newId, newSecret } from "./secrets";

export const OFFLINE_CODE = "SourceServer.Offline";

interface SourceRow extends Record<string, unknown> {
  source_id: string;
  name: string;
  state: SourceState;
  error_code: string | null;
  status_info: string | null;
  activation_code_id: string | null;
  agent_version: string | null;
  hostname: string | null;
  inventory: unknown;
  inventory_error: unknown;
  heartbeat_seconds: number;
  last_heartbeat_at: unknown;
  registered_at: unknown;
}

function toSource(r: SourceRow): SourceServer {
  const inv = json<SourceInventory>(r.inventory);
  return {
    sourceId: r.source_id,
    name: r.name,
    state: r.state,
    errorCode: r.error_code,
    statusInfo: r.status_info,
    hostname: r.hostname,
    os: inv.os?.prettyName ?? null,
    arch: inv.arch ?? null,
    agentVersion: r.agent_version,
    activationCodeId: r.activation_code_id,
    heartbeatSeconds: r.heartbeat_seconds,
    lastHeartbeatAt: iso(r.last_heartbeat_at),
    registeredAt: iso(r.registered_at),
  };
}

function toDetail(r: SourceRow): SourceServerDetail {
  return { ...toSource(r), inventory: json<SourceInventory>(r.inventory), inventoryError: r.inventory_error == null ? null : json(r.inventory_error) };
}

export interface RegisterSourceInput {
  activationCode: string;
  name?: string | undefined;
  agentVersion?: string | undefined;
  inventory: SourceInventory;
  inventoryError?: { code: string; message: string } | undefined;
  heartbeatSeconds: number;
}

/** Redeems the code and creates the source in one transaction: a refused import spends nothing. */
export async function registerSource(db: Database, input: RegisterSourceInput): Promise<{ source: SourceServer; agentToken: string }> {
  return db.transaction(async (tx) => {
    const codeId = await redeemActivationCode(tx, input.activationCode);
    const agentToken = newSecret("hat");
    const name = input.name ?? input.inventory.hostname ?? "source";
    const rows = await tx.query<SourceRow>(
      `insert into sources (source_id, name, state, activation_code_id, agent_token_hash, agent_version, hostname, inventory, inventory_error, heartbeat_seconds)
       values ($1, $2, 'Available', $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9)
       returning *`,
      [
        newId("s"),
        name,
        codeId,
        hashSecret(agentToken),
        input.agentVersion ?? null,
        input.inventory.hostname,
        JSON.stringify(input.inventory),
        input.inventoryError ? JSON.stringify(input.inventoryError) : null,
        input.heartbeatSeconds,
      ],
    );
    const row = rows[0];
    if (!row) throw new HoistError("Internal.Error", "the source was not stored", { retryable: true });
    return { source: toSource(row), agentToken };
  });
}

/** Records a heartbeat from the agent holding `agentToken`; null when no live source has that token. */
export async function recordHeartbeat(db: Queryable, agentToken: string, update: { agentVersion?: string | undefined; inventory?: SourceInventory | undefined } = {}): Promise<SourceServer | null> {
  const rows = await db.query<SourceRow>(
    `update sources set
       last_heartbeat_at = now(),
       state = case when state = 'Unavailable' and error_code = $2 then 'Available' else state end,
       status_info = case when error_code = $2 then null else status_info end,
       error_code = case when error_code = $2 then null else error_code end,
       agent_version = coalesce($3, agent_version),
       inventory = coalesce($4::jsonb, inventory)
     where agent_token_hash = $1 and state <> 'Deleting'
     returning *`,
    [hashSecret(agentToken), OFFLINE_CODE, update.agentVersion ?? null, update.inventory ? JSON.stringify(update.inventory) : null],
  );
  return rows[0] ? toSource(rows[0]) : null;
}

/**
 * Marks sources whose agent has been silent longer than `afterSeconds` (or,
 * when larger, three of their own heartbeat periods) as offline. An idle
 * source becomes Unavailable; a source in use keeps its state and shows the
 * error, so its job can decide what to do.
 */
export async function markOfflineSources(db: Queryable, afterSeconds: number): Promise<number> {
  const rows = await db.query<{ source_id: string }>(
    `update sources set
       state = case when state = 'Available' then 'Unavailable' else state end,
       error_code = $1,
       status_info = 'no heartbeat from the agent since ' || to_char(last_heartbeat_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
     where state in ('Available', 'InUse', 'Unavailable')
       and error_code is distinct from $1
       and last_heartbeat_at < now() - make_interval(secs => greatest($2::double precision, heartbeat_seconds * 3))
     returning source_id`,
    [OFFLINE_CODE, afterSeconds],
  );
  return rows.length;
}

export interface SourceFilter {
  state?: SourceState | undefined;
  /** Part of the name, matched case-insensitively (wildcards in it match themselves). */
  name?: string | undefined;
  limit: number;
  offset: number;
}

export async function listSources(db: Queryable, filter: SourceFilter): Promise<{ total: number; sources: SourceServer[] }> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.state) {
    params.push(filter.state);
    where.push(`state = $${params.length}`);
  }
  if (filter.name) {
    params.push(`%${filter.name.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    where.push(`name ilike $${params.length}`);
  }
  const clause = where.length ? `where ${where.join(" and ")}` : "";
  const total = (await db.query<{ n: number }>(`select count(*)::int as n from sources ${clause}`, params))[0]?.n ?? 0;
  const rows = await db.query<SourceRow>(`select * from sources ${clause} order by registered_at desc, source_id limit $${params.length + 1} offset $${params.length + 2}`, [
    ...params,
    filter.limit,
    filter.offset,
  ]);
  return { total, sources: rows.map(toSource) };
}

export async function getSource(db: Queryable, sourceId: string): Promise<SourceServerDetail | null> {
  const rows = await db.query<SourceRow>("select * from sources where source_id = $1", [sourceId]);
  return rows[0] ? toDetail(rows[0]) : null;
}

export function sourceNotFound(sourceId: string): HoistError {
  return new HoistError("SourceServer.NotFound", `no source server ${sourceId}`, { fix: "List the sources with `hoist sources list`." });
}

/**
 * Deletes a source: it passes through Deleting (so its agent's next heartbeat
 * is refused and the agent stops) and is then removed with its credential.
 * A source in use by a job cannot be deleted.
 */
export async function deleteSource(db: Database, sourceId: string): Promise<SourceServer> {
  const marked = await db.transaction(async (tx) => {
    const rows = await tx.query<SourceRow>("select * from sources where source_id = $1 for update", [sourceId]);
    const row = rows[0];
    if (!row) throw sourceNotFound(sourceId);
    if (row.state === "InUse") {
      throw new HoistError("SourceServerState.Invalid", `source server ${sourceId} is InUse by a replication job`, {
        fix: "Finish, cancel or delete its replication job first, then delete the source.",
      });
    }
    const updated = await tx.query<SourceRow>("update sources set state = 'Deleting' where source_id = $1 returning *", [sourceId]);
    return toSource(updated[0] ?? row);
  });
  await db.query("delete from sources where source_id = $1 and state = 'Deleting'", [sourceId]);
  return marked;
}

/** For tests and later job code: puts a source into a state directly. */
export async function setSourceState(db: Queryable, sourceId: string, state: SourceState): Promise<void> {
  await db.query("update sources set state = $2 where source_id = $1", [sourceId, state]);
}

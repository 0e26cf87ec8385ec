// API keys for people and scripts. The first start creates an admin key and
// shows it once; HOIST_API_KEY instead registers a key the operator chose.
import { HoistError } from "@hoist/protocol";
import type { Database, Queryable } from "../db/database";
import { hashSecret, newId, newSecret } from "./secrets";

/** Shares the migrations' lock space: two replicas starting at once create one admin key, not two. */
const ADMIN_KEY_LOCK = 0x686f697375;
const MIN_KEY_LENGTH = 24;

export interface EnsureAdminKeyResult {
  /** The new key, in clear, when this start created it; shown once and never again. */
  created?: string;
  keyId: string;
}

/** HOIST_API_KEY as a client can send it: long, printable ASCII, no spaces (it travels as `Bearer <key>`). Never echoed. */
export function checkEnvApiKey(fromEnv: string): string {
  const why = fromEnv.length < MIN_KEY_LENGTH ? `is shorter than ${MIN_KEY_LENGTH} characters` : fromEnv.length > 512 ? "is longer than 512 characters" : !/^[\x21-\x7e]+$/.test(fromEnv) ? "holds spaces, control or non-ASCII characters" : undefined;
  if (why) {
    throw new HoistError("Config.InvalidApiKey", `HOIST_API_KEY ${why}`, {
      fix: "Use a long random value, e.g. `openssl rand -base64 32`, or unset it to let the server create one.",
    });
  }
  return fromEnv;
}

export async function ensureAdminKey(db: Database, fromEnv?: string): Promise<EnsureAdminKeyResult> {
  if (fromEnv !== undefined) checkEnvApiKey(fromEnv);
  return db.transaction(async (tx) => {
    await tx.query("select pg_advisory_xact_lock($1::bigint)", [ADMIN_KEY_LOCK]);
    if (fromEnv !== undefined) {
      const hash = hashSecret(fromEnv);
      const found = await tx.query<{ key_id: string }>("select key_id from api_keys where key_hash = $1", [hash]);
      if (found[0]) return { keyId: found[0].key_id };
      const keyId = newId("key");
      await tx.query("insert into api_keys (key_id, name, key_hash) values ($1, $2, $3)", [keyId, "HOIST_API_KEY", hash]);
      return { keyId };
    }
    const any = await tx.query<{ key_id: string }>("select key_id from api_keys order by created_at limit 1");
    if (any[0]) return { keyId: any[0].key_id };
    const key = newSecret("hk");
    const keyId = newId("key");
    await tx.query("insert into api_keys (key_id, name, key_hash) values ($1, $2, $3)", [keyId, "admin", hashSecret(key)]);
    return { created: key, keyId };
  });
}

/**
 * The key's id when `key` is a known API key, else null. Its last use is
 * written at most once a minute, so reading the API does not write the
 * database on every request.
 */
export async function findApiKey(db: Queryable, key: string): Promise<string | null> {
  const rows = await db.query<{ key_id: string; stale: boolean }>(
    "select key_id, (last_used_at is null or last_used_at < now() - interval '1 minute') as stale from api_keys where key_hash = $1",
    [hashSecret(key)],
  );
  const row = rows[0];
  if (!row) return null;
  if (row.stale) await db.query("update api_keys set last_used_at = now() where key_id = $1", [row.key_id]);
  return row.key_id;
}

// Applies MIGRATIONS under a transaction-scoped advisory lock: two replicas
// starting at once queue on the lock, and the second finds nothing left to do.
// DDL is transactional in PostgreSQL, so a failed migration leaves no half schema.
import type { Database } from "./database";
import { MIGRATIONS, type Migration } from "./migrations";

/** Arbitrary but fixed: every hoist server agrees on it ("hoist" in ASCII). */
export const MIGRATION_LOCK_KEY = 0x686f697374;

export interface MigrateResult {
  applied: number[];
  version: number;
}

export async function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrateResult> {
  return db.transaction(async (tx) => {
    await tx.query("select pg_advisory_xact_lock($1::bigint)", [MIGRATION_LOCK_KEY]);
    await tx.query(`create table if not exists schema_migrations (
      version integer primary key,
      name text not null,
      applied_at timestamptz not null default now()
    )`);
    const done = new Set((await tx.query<{ version: number }>("select version from schema_migrations")).map((r) => r.version));
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      for (const sql of m.statements) await tx.query(sql);
      await tx.query("insert into schema_migrations (version, name) values ($1, $2)", [m.version, m.name]);
      applied.push(m.version);
    }
    const top = await tx.query<{ v: number | null }>("select max(version) as v from schema_migrations");
    return { applied, version: top[0]?.v ?? 0 };
  });
}

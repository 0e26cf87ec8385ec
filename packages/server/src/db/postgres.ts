// A PostgreSQL server through node-postgres: what several `hoist server`
// replicas share. A pool of connections; a transaction pins one of them.
import { HoistError } from "@hoist/protocol";
import { maskUrlPassword } from "@hoist/runtime";
import pg from "pg";
import type { Database, Queryable, Row } from "./database";

// int8 (counts, sums) as numbers: the control plane's counters stay far below 2^53.
pg.types.setTypeParser(20, (v: string) => Number(v));

export async function openPostgres(connectionString: string, opts: { max?: number } = {}): Promise<Database> {
  const pool = new pg.Pool({ connectionString, max: opts.max ?? 10 });
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on("error", () => {});
  try {
    const client = await pool.connect();
    client.release();
  } catch (e) {
    await pool.end().catch(() => {});
    throw new HoistError("Database.Unavailable", `cannot connect to PostgreSQL: ${e instanceof Error ? e.message : String(e)}`, {
      fix: "Check DATABASE_URL (postgres://user:password@host:port/database) and that the server accepts connections.",
      retryable: true,
      cause: e,
    });
  }
  return {
    kind: "postgres",
    async query<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
      return (await pool.query(sql, [...params])).rows as T[];
    },
    async exec(sql: string): Promise<Row[]> {
      // Without parameters node-postgres uses the simple protocol: one result per statement.
      const result = (await pool.query(sql)) as unknown as pg.QueryResult | pg.QueryResult[];
      return (Array.isArray(result) ? (result.at(-1)?.rows ?? []) : result.rows) as Row[];
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      try {
        await client.query("begin");
        const result = await fn({
          async query<R extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
            return (await client.query(sql, [...params])).rows as R[];
          },
        });
        await client.query("commit");
        return result;
      } catch (e) {
        await client.query("rollback").catch(() => {});
        throw e;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

/**
 * DATABASE_URL when set, else undefined (the embedded database). It must be a
 * postgres:// or postgresql:// URL with a host (or a socket folder in ?host=);
 * anything else is refused before a connection is tried, without showing its password.
 */
export function databaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const url = env["DATABASE_URL"]?.trim();
  if (!url) return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  const scheme = parsed?.protocol;
  if (!parsed || (scheme !== "postgres:" && scheme !== "postgresql:") || (parsed.hostname === "" && !parsed.searchParams.get("host")) || /[\u0000-\u001f\u007f]/.test(url)) {
    const shown = maskUrlPassword(url);
    throw new HoistError("Config.InvalidDatabaseUrl", `DATABASE_URL must be a postgres:// URL with a host (got ${JSON.stringify(shown.length > 80 ? `${shown.slice(0, 77)}...` : shown)})`, {
      fix: "Set DATABASE_URL=postgres://user:password@host:port/database, or unset it for the embedded database.",
    });
  }
  return url;
}

// Embedded PostgreSQL (PGlite, compiled to WebAssembly) in a data folder: the
// default, so `hoist server` needs no database server to start. PGlite is
// loaded only when used: its WebAssembly files sit beside its own module, so
// the bundled CLI leaves it in node_modules instead of inlining it.
import { mkdirSync } from "node:fs";
import { HoistError } from "@hoist/protocol";
import { claimPidFile } from "@hoist/runtime";
import type { Database, Queryable, Row } from "./database";

interface PgliteLike {
  dumpDataDir(compression?: "none" | "gzip" | "auto"): Promise<Blob>;
  query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  exec(sql: string): Promise<{ rows: Row[] }[]>;
  transaction<T>(fn: (tx: { query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[] }> }) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  waitReady: Promise<void>;
}

export interface PgliteOptions {
  /**
   * A data folder dumped by `dumpPgliteTemplate` to start from instead of running initdb (which
   * takes seconds under WebAssembly); for throwaway in-memory databases.
   */
  template?: Blob;
}

/** Opens PGlite in `dataDir` (created 0700), or in memory when `dataDir` is undefined. */
export async function openPglite(dataDir?: string, opts: PgliteOptions = {}): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  let PGlite: new (dataDir?: string, options?: { loadDataDir?: Blob }) => PgliteLike;
  try {
    ({ PGlite } = (await import("@electric-sql/pglite")) as unknown as { PGlite: typeof PGlite });
  } catch (e) {
    throw new HoistError("Database.Unavailable", "the embedded database (@electric-sql/pglite) could not be loaded", {
      fix: "Run hoist server from an installed checkout (npm install), or set DATABASE_URL to a PostgreSQL server.",
      cause: e,
    });
  }
  // PGlite does not lock its folder, and two processes writing one would corrupt it.
  const lock = dataDir ? claimPidFile(`${dataDir.replace(/\/+$/, "")}.lock`) : undefined;
  if (lock && !lock.held) {
    throw new HoistError("Database.InUse", `the embedded database in ${dataDir} is in use by another process (pid ${lock.holder})`, {
      fix: "Stop the hoist server that uses it, or give this one another --data-dir; several replicas share a PostgreSQL server through DATABASE_URL.",
    });
  }
  const release = (): void => {
    if (lock?.held) lock.release();
  };
  const pg = new PGlite(dataDir, opts.template ? { loadDataDir: opts.template } : undefined);
  try {
    await pg.waitReady;
  } catch (e) {
    release();
    throw new HoistError("Database.Unavailable", `the embedded database in ${dataDir ?? "memory"} could not be opened: ${e instanceof Error ? e.message : String(e)}`, {
      fix: "Check that the data folder is writable and that no other hoist server uses it (PGlite allows one process per folder).",
      cause: e,
    });
  }
  // PGlite is one connection: statements already run one at a time, and a
  // transaction holds the connection until it ends.
  return {
    kind: "pglite",
    async query<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
      return (await pg.query<T>(sql, [...params])).rows;
    },
    async exec(sql: string): Promise<Row[]> {
      return (await pg.exec(sql)).at(-1)?.rows ?? [];
    },
    transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      return pg.transaction((tx) =>
        fn({
          async query<R extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
            return (await tx.query<R>(sql, [...params])).rows;
          },
        }),
      );
    },
    close: () => pg.close().finally(release),
  };
}

/** A fresh, empty in-memory database's data folder as a tarball, for `openPglite(undefined, { template })`. */
export async function dumpPgliteTemplate(): Promise<Blob> {
  const { PGlite } = (await import("@electric-sql/pglite")) as unknown as { PGlite: new () => PgliteLike };
  const pg = new PGlite();
  try {
    await pg.waitReady;
    return await pg.dumpDataDir("none");
  } finally {
    await pg.close();
  }
}

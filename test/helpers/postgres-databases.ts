// Fresh databases for the suites of one test file, on one throwaway
// PostgreSQL server (./postgres) started before the file's tests and stopped
// after them. Kept apart from ./postgres, which the benchmarks bundle, since
// this one needs vitest and the server's database code.
import { randomBytes } from "node:crypto";
import { type Database, openPostgres } from "@hoist/server";
import { afterAll, beforeAll } from "vitest";
import { startPostgres, type TestPostgres } from "./postgres";

export interface TestDatabases {
  /** A new, empty database of its own on the server, and a pool on it. */
  newDb(): Promise<Database>;
  /** A second pool on a database `newDb` made, as another replica would hold. */
  sameDb(db: Database): Promise<Database>;
}

/**
 * One throwaway server for a test file, started before its tests and stopped after them,
 * on which each suite makes its own databases. Call it at the top level of the file.
 */
export function postgresForTests(): TestDatabases {
  let server: TestPostgres;
  const urls = new WeakMap<Database, string>();
  beforeAll(async () => {
    server = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });
  return {
    async newDb() {
      const name = `hoist_${randomBytes(6).toString("hex")}`;
      const admin = await openPostgres(server.url, { max: 1 });
      await admin.query(`create database ${name}`);
      await admin.close();
      const url = server.url.replace(/\/postgres$/, `/${name}`);
      const db = await openPostgres(url);
      urls.set(db, url);
      return db;
    },
    async sameDb(db) {
      return openPostgres(urls.get(db) as string);
    },
  };
}

import { randomBytes } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import { startPostgres, type TestPostgres } from "../../../../test/helpers/postgres";
import type { Database } from "../db/database";
import { openPostgres } from "../db/postgres";
import type { JobApiDbs } from "./job-api-harness";
import { runJobCreateTests } from "./job-create-suite";
import { runJobTransitionTests } from "./job-transition-suite";

let server: TestPostgres;
const urls = new WeakMap<Database, string>();

beforeAll(async () => {
  server = await startPostgres();
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

// Each suite gets its own database; the second replica opens its own pool on it.
const dbs: JobApiDbs = {
  name: "PostgreSQL 15 server",
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
runJobCreateTests(dbs);
runJobTransitionTests(dbs);

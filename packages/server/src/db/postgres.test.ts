import { randomBytes } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import { startPostgres, type TestPostgres } from "../../../../test/helpers/postgres";
import type { Database } from "./database";
import { runDbTests } from "./db-suite";
import { openPostgres } from "./postgres";

let server: TestPostgres;
const urls = new WeakMap<Database, string>();

beforeAll(async () => {
  server = await startPostgres();
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

runDbTests({
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
});

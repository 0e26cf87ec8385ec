// @hoist/server — the control plane: the HTTP API (`hoist server`), its state
// in PostgreSQL (embedded PGlite by default, a server via DATABASE_URL) with
// numbered migrations, API keys, activation codes and source servers.
// Replication jobs and their queue build on these tables in later migrations.
export type { Database, Queryable, Row } from "./db/database";
export { dumpPgliteTemplate, openPglite } from "./db/pglite";
export { databaseUrlFromEnv, openPostgres } from "./db/postgres";
export { migrate, MIGRATION_LOCK_KEY, type MigrateResult } from "./db/migrate";
export { MIGRATIONS, type Migration } from "./db/migrations";
export { startServer, type RunningServer, type ServerOptions } from "./server";
export { installCommand } from "./http/routes";
export { checkEnvApiKey } from "./store/api-keys";
export { OFFLINE_CODE } from "./store/sources";

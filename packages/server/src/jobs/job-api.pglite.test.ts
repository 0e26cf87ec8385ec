import { freshPglite } from "../../../../test/helpers/pglite";
import type { JobApiDbs } from "./job-api-harness";
import { runJobCreateTests } from "./job-create-suite";
import { runJobTransitionTests } from "./job-transition-suite";

// In memory: one PGlite is one connection, so the second replica shares the handle.
const dbs: JobApiDbs = { name: "embedded PGlite", newDb: freshPglite, sameDb: async (db) => ({ ...db, close: async () => {} }) };
runJobCreateTests(dbs);
runJobTransitionTests(dbs);

import { postgresForTests } from "../../../../test/helpers/postgres-databases";
import type { JobApiDbs } from "./job-api-harness";
import { runJobCreateTests } from "./job-create-suite";
import { runJobTransitionTests } from "./job-transition-suite";

// Each suite gets its own database; the second replica opens its own pool on it.
const dbs: JobApiDbs = { name: "PostgreSQL 15 server", ...postgresForTests() };
runJobCreateTests(dbs);
runJobTransitionTests(dbs);

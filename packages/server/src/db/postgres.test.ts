import { postgresForTests } from "../../../../test/helpers/postgres-databases";
import { runDbTests } from "./db-suite";

runDbTests({ name: "PostgreSQL 15 server", ...postgresForTests() });

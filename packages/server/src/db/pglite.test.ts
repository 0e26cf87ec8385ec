import { freshPglite } from "../../../../test/helpers/pglite";
import { runDbTests } from "./db-suite";

// In memory: one PGlite is one connection, so a "second replica" is the same handle.
runDbTests({ name: "embedded PGlite", newDb: freshPglite, sameDb: async (db) => ({ ...db, close: async () => {} }) });

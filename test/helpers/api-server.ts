// The control plane in-process, as the API tests run it: startServer on a
// fresh embedded PGlite (or the database given), logging nothing, on a free
// loopback port, calling itself version "test". Each test names the rest.
import { silentLogger } from "@hoist/runtime";
import { type Database, type RunningServer, type ServerOptions, startServer } from "@hoist/server";
import { freshPglite } from "./pglite";

export interface InProcessServer {
  server: RunningServer;
  db: Database;
}

export async function startInProcessServer(options: Partial<ServerOptions> = {}): Promise<InProcessServer> {
  const db = options.db ?? (await freshPglite());
  try {
    const server = await startServer({ logger: silentLogger, port: 0, listen: "127.0.0.1", version: "test", ...options, db });
    return { server, db };
  } catch (e) {
    if (!options.db) await db.close();
    throw e;
  }
}

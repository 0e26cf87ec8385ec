// The receiver on an intermediate instance: opens its state, then serves the
// control API and the data port until closed.
import type { Server } from "node:net";
import { join } from "node:path";
import type { TargetBackend } from "@hoist/images";
import type { ReceiverReady } from "@hoist/protocol";
import { haveTool, type Logger, silentLogger } from "@hoist/runtime";
import { ReceiverContext } from "./context";
import { createControlServer } from "./control-api";
import { createDataServer } from "./data-server";
import { JobStore } from "./job-store";
import { openState, writeFileAtomic } from "./state";

export interface ReceiverOptions {
  stateDir: string;
  backend: TargetBackend;
  /** 0 picks a free port. */
  controlPort?: number;
  dataPort?: number;
  listen?: string;
  logger?: Logger;
  version?: string;
}

export interface RunningReceiver {
  ready: ReceiverReady;
  adminToken: string;
  close(): Promise<void>;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const addr = server.address();
      resolve(typeof addr === "object" && addr ? addr.port : port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function startReceiver(options: ReceiverOptions): Promise<RunningReceiver> {
  const log = options.logger ?? silentLogger;
  const state = await openState(options.stateDir);
  const ctx = new ReceiverContext(state, new JobStore(state.jobsDir), options.backend, log, options.version ?? "0.0.0");
  const host = options.listen ?? "0.0.0.0";
  const control = createControlServer(ctx);
  const data = createDataServer(ctx, await haveTool("setpriv"));
  const controlPort = await listen(control, options.controlPort ?? 8080, host);
  let dataPort: number;
  try {
    dataPort = await listen(data, options.dataPort ?? 8703, host);
  } catch (e) {
    await closeServer(control);
    throw e;
  }
  const ready: ReceiverReady = { event: "ready", controlPort, dataPort, fingerprint: state.fingerprint, pid: process.pid };
  await writeFileAtomic(join(state.dir, "receiver.json"), `${JSON.stringify({ ...ready, listen: host, startedAt: new Date().toISOString() }, null, 2)}\n`, 0o644);
  log.info("receiver ready", { controlPort, dataPort, fingerprint: state.fingerprint });
  return {
    ready,
    adminToken: state.adminToken,
    async close() {
      control.closeAllConnections();
      await Promise.all([closeServer(control), closeServer(data)]);
      await ctx.closeWorkers();
    },
  };
}

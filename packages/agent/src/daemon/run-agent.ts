// `hoist agent`: imports this source into a control plane with an activation
// code, then heartbeats until stopped (SIGTERM/SIGINT, or `hoist agent
// --abort`), starting the tasks the heartbeat answers bring; the tasks run
// beside the heartbeats and are stopped (their copies killed) before the
// agent exits. A restarted agent reuses its stored credential; network
// failures are retried, while a revoked credential (source deleted) stops it.
import { join } from "node:path";
import { collectInventory } from "@hoist/images";
import { type HeartbeatRequest, type HeartbeatResponse, HoistError, isHoistError, type RegisterAgentResponse, type SourceInventory } from "@hoist/protocol";
import { claimPidFile, type Logger, pidAlive, pidFileHolder } from "@hoist/runtime";
import { ControlPlaneClient } from "./control-client";
import { type AgentCredential, ensureStateDir, forgetCredential, loadCredential, saveCredential } from "./credential";
import { sleep } from "./sleep";
import { AgentTaskRunner, tasksIn } from "./tasks";

export interface AgentDaemonOptions {
  server: string;
  activationCode?: string | undefined;
  sourceRoot: string;
  stateDir: string;
  /** Overrides the heartbeat period the server asks for. */
  heartbeatSeconds?: number | undefined;
  name?: string | undefined;
  version: string;
  /** `addSecret`, when present, keeps the receiver tokens of tasks out of the log. */
  logger: Logger & { addSecret?: (secret: string) => void };
  /** Where the import line is printed. */
  out: NodeJS.WritableStream;
  signal: AbortSignal;
  /** argv that runs `hoist tunnel` for copies (default: this executable). */
  tunnel?: readonly string[] | undefined;
  /** How often a running copy reports progress (default 2 s). */
  progressIntervalMs?: number | undefined;
}

const pidPath = (stateDir: string): string => join(stateDir, "agent.pid");



async function inventoryFor(sourceRoot: string, log: Logger): Promise<{ inventory: SourceInventory; inventoryError?: { code: string; message: string } }> {
  try {
    return { inventory: await collectInventory(sourceRoot) };
  } catch (e) {
    if (!isHoistError(e) || e.code === "Inventory.SourceMissing" || e.code === "Inventory.NotARootTree") throw e;
    // The source can still be imported and shown; a job will refuse what cannot boot, with this reason.
    log.warn("full inventory failed; importing with what could be read", { code: e.code, error: e.message });
    return { inventory: await collectInventory(sourceRoot, { copyOnly: true }), inventoryError: { code: e.code, message: e.message } };
  }
}

export async function runAgentDaemon(opts: AgentDaemonOptions): Promise<void> {
  const { logger: log } = opts;
  ensureStateDir(opts.stateDir);
  const pidFile = claimPidFile(pidPath(opts.stateDir));
  if (!pidFile.held) {
    throw new HoistError("Agent.AlreadyRunning", `hoist agent already runs with this state folder (pid ${pidFile.holder})`, { fix: `Stop it first with hoist agent --abort --state-dir ${opts.stateDir}.` });
  }
  try {
    const server = opts.server.replace(/\/+$/, "");
    let cred: AgentCredential | null = loadCredential(opts.stateDir);
    // A resumed agent re-reads its source: disks or packages may have changed while it was down.
    let freshInventory: SourceInventory | undefined;
    if (cred && cred.server !== server) cred = null;
    if (!cred) {
      if (!opts.activationCode) {
        throw new HoistError("Agent.NotImported", "this source is not imported yet and no activation code was given", { fix: "Run hoist agent --activation-code <code> --server <url> (from hoist codes create)." });
      }
      const { inventory, inventoryError } = await inventoryFor(opts.sourceRoot, log);
      const client = new ControlPlaneClient({ server });
      const reg = await client.request<RegisterAgentResponse>("POST", "/v1/agents/register", {
        activationCode: opts.activationCode,
        ...(opts.name ? { name: opts.name } : {}),
        agentVersion: opts.version,
        inventory,
        ...(inventoryError ? { inventoryError } : {}),
      });
      cred = { server, sourceId: reg.sourceId, agentToken: reg.agentToken, heartbeatSeconds: reg.heartbeatSeconds };
      saveCredential(opts.stateDir, cred);
      opts.out.write(`Import Source Server [${reg.sourceId}] Successfully!\n`);
    } else {
      log.info("resuming as an imported source", { sourceId: cred.sourceId });
      freshInventory = (await inventoryFor(opts.sourceRoot, log)).inventory;
    }
    // The logger redacts the agent's own token too, wherever an error might quote it.
    log.addSecret?.(cred.agentToken);
    const client = new ControlPlaneClient({ server, token: cred.agentToken });
    const tasks = new AgentTaskRunner({ client, sourceRoot: opts.sourceRoot, stateDir: opts.stateDir, logger: log, tunnel: opts.tunnel, progressIntervalMs: opts.progressIntervalMs });
    let period = opts.heartbeatSeconds ?? cred.heartbeatSeconds;
    let failing = false;
    try {
      while (!opts.signal.aborted) {
        // The period counts from each heartbeat's start, so a slow answer does not stretch it.
        const next = Date.now() + period * 1000;
        try {
          const body: HeartbeatRequest = { agentVersion: opts.version, ...(freshInventory ? { inventory: freshInventory } : {}), runningTaskIds: tasks.runningTaskIds() };
          const hb = await client.request<HeartbeatResponse>("POST", "/v1/agents/heartbeat", body, { signal: opts.signal });
          freshInventory = undefined;
          if (failing) log.info("heartbeats reach the server again", { sourceId: hb.sourceId });
          failing = false;
          if (opts.heartbeatSeconds === undefined) period = hb.heartbeatSeconds;
          for (const task of tasksIn(hb, log)) tasks.start(task);
        } catch (e) {
          if (opts.signal.aborted) break;
          if (isHoistError(e) && e.code === "Agent.Unauthorized") {
            forgetCredential(opts.stateDir);
            throw new HoistError("Agent.Revoked", `the server no longer knows source ${cred.sourceId} (it was deleted)`, { fix: "Import this source again with a new activation code." });
          }
          if (!failing) log.warn("heartbeat failed; retrying", { code: isHoistError(e) ? e.code : "Internal.Error", error: e instanceof Error ? e.message : String(e) });
          failing = true;
        }
        await sleep(Math.max(0, next - Date.now()), opts.signal);
      }
    } finally {
      await tasks.stop();
    }
    log.info("hoist agent stopped", { sourceId: cred.sourceId });
  } finally {
    pidFile.release();
  }
}

/** `hoist agent --abort`: stops the agent running with this state folder and waits for it to exit. */
export async function abortAgentDaemon(stateDir: string, waitMs = 15_000): Promise<number> {
  const pid = pidFileHolder(pidPath(stateDir));
  if (!pid) throw new HoistError("Agent.NotRunning", `no hoist agent runs with state folder ${stateDir}`, { fix: "Pass the --state-dir the agent was started with." });
  process.kill(pid, "SIGTERM");
  const until = Date.now() + waitMs;
  while (pidAlive(pid)) {
    if (Date.now() > until) throw new HoistError("Agent.StopTimeout", `hoist agent (pid ${pid}) did not stop within ${waitMs / 1000} s`, { fix: `Stop it with kill -9 ${pid}.`, retryable: true });
    await new Promise((r) => setTimeout(r, 100));
  }
  return pid;
}

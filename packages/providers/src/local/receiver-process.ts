// The local provider's intermediate instance is a `hoist receiver` process on
// this host with its own state folder (certificate, admin token, the jobs and
// their target disks). It is started detached so that it outlives a killed
// agent, exactly like a cloud instance would, and restarted from the same
// folder when it is found dead.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { HoistError } from "@hoist/protocol";
import { hoistCommand, pidAlive } from "@hoist/runtime";
import type { IntermediateInstance } from "../provider";

interface ReceiverFacts {
  controlPort: number;
  dataPort: number;
  fingerprint: string;
  pid: number;
}

export function newInstanceId(): string {
  return `i-local-${randomBytes(6).toString("hex")}`;
}

function readFacts(stateDir: string): ReceiverFacts | null {
  try {
    const raw = JSON.parse(readFileSync(join(stateDir, "receiver.json"), "utf8")) as Partial<ReceiverFacts>;
    if (typeof raw.controlPort !== "number" || typeof raw.dataPort !== "number" || typeof raw.fingerprint !== "string" || typeof raw.pid !== "number") return null;
    return raw as ReceiverFacts;
  } catch {
    return null;
  }
}


/** GET /v1/health with the pinned fingerprint; true when the receiver answers. */
export function receiverHealthy(host: string, port: number, fingerprint: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    // A fresh connection each time (no keep-alive pool): a pooled socket the receiver already dropped can leave a check unanswered.
    const guard = setTimeout(() => {
      req.destroy();
      resolve(false);
    }, timeoutMs + 1000);
    const req = request({ host, port, path: "/v1/health", method: "GET", rejectUnauthorized: false, timeout: timeoutMs, agent: false }, (res) => {
      clearTimeout(guard);
      const cert = (res.socket as import("node:tls").TLSSocket).getPeerCertificate?.();
      const seen = cert?.raw ? createHash("sha256").update(cert.raw).digest("hex") : "";
      res.resume();
      resolve(res.statusCode === 200 && seen === fingerprint);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => {
      clearTimeout(guard);
      resolve(false);
    });
    req.end();
  });
}

export interface ReceiverProcessOptions {
  stateDir: string;
  host?: string;
  controlPort?: number;
  dataPort?: number;
  /** Milliseconds to wait for the receiver to become ready. */
  readyTimeoutMs?: number;
}

/** The receiver started last in a state folder: its pid is written as soon as it is spawned, before it is ready. */
const startedPidPath = (stateDir: string): string => join(stateDir, "receiver.pid");

/** Waits for a receiver started earlier (by a process that died meanwhile) to become ready; null if it does not. */
async function readyOf(host: string, stateDir: string, pid: number, timeoutMs: number): Promise<ReceiverFacts | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && pidAlive(pid)) {
    const facts = readFacts(stateDir);
    if (facts?.pid === pid && (await receiverHealthy(host, facts.controlPort, facts.fingerprint))) return facts;
    await new Promise((r) => setTimeout(r, 150));
  }
  return null;
}

/** Starts (or restarts) the receiver of an intermediate instance and waits until it answers. */
export async function startReceiver(instanceId: string, options: ReceiverProcessOptions): Promise<IntermediateInstance> {
  const host = options.host ?? "127.0.0.1";
  mkdirSync(options.stateDir, { recursive: true, mode: 0o700 });
  // A receiver still starting for a caller that died is waited for, never doubled.
  const starting = Number(existsSync(startedPidPath(options.stateDir)) ? readFileSync(startedPidPath(options.stateDir), "utf8").trim() : "");
  if (Number.isInteger(starting) && starting > 0 && pidAlive(starting) && readFacts(options.stateDir)?.pid !== starting) {
    const facts = await readyOf(host, options.stateDir, starting, options.readyTimeoutMs ?? 30_000);
    if (facts) return describe(instanceId, host, options.stateDir, facts);
    if (pidAlive(starting)) process.kill(starting, "SIGKILL");
  }
  const previous = readFacts(options.stateDir);
  if (previous && pidAlive(previous.pid)) {
    // A busy host can be slow to answer; only a receiver that stays silent is replaced.
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await receiverHealthy(host, previous.controlPort, previous.fingerprint, 10_000)) return describe(instanceId, host, options.stateDir, previous);
    }
    // Never leave two receivers fighting over one state folder.
    await stopReceiver(options.stateDir);
  }
  rmSync(join(options.stateDir, "receiver.json"), { force: true });
  const [cmd, ...pre] = hoistCommand();
  const logFd = openSync(join(options.stateDir, "receiver.log"), "a", 0o600);
  const child = spawn(
    cmd,
    [
      ...pre,
      "receiver",
      "--state-dir",
      options.stateDir,
      "--listen",
      host,
      "--control-port",
      String(options.controlPort ?? 0),
      "--data-port",
      String(options.dataPort ?? 0),
    ],
    { detached: true, stdio: ["ignore", logFd, logFd] },
  );
  child.unref();
  if (child.pid) writeFileSync(startedPidPath(options.stateDir), `${child.pid}\n`, { mode: 0o600 });
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  let exited: number | null = null;
  child.once("exit", (code) => {
    exited = code ?? 1;
  });
  while (Date.now() < deadline) {
    const facts = readFacts(options.stateDir);
    if (facts && facts.pid === child.pid && (await receiverHealthy(host, facts.controlPort, facts.fingerprint))) {
      return describe(instanceId, host, options.stateDir, facts);
    }
    if (exited !== null) break;
    await new Promise((r) => setTimeout(r, 150));
  }
  if (child.pid && pidAlive(child.pid)) process.kill(child.pid, "SIGKILL");
  throw new HoistError("IntermediateInstance.StartFailed", `the receiver of intermediate instance ${instanceId} did not become ready`, {
    fix: `See ${join(options.stateDir, "receiver.log")}.`,
    retryable: true,
  });
}

function describe(instanceId: string, host: string, stateDir: string, facts: ReceiverFacts): IntermediateInstance {
  const tokenPath = join(stateDir, "admin.token");
  if (!existsSync(tokenPath)) throw new HoistError("IntermediateInstance.Broken", `intermediate instance ${instanceId} has no admin token`, { fix: "Run again with --cleardata." });
  return {
    provider: "local",
    instanceId,
    host,
    controlPort: facts.controlPort,
    dataPort: facts.dataPort,
    fingerprint: facts.fingerprint,
    adminToken: readFileSync(tokenPath, "utf8").trim(),
  };
}

/** Stops the receiver (SIGTERM, then SIGKILL) without touching its state folder. */
export async function stopReceiver(stateDir: string): Promise<void> {
  const started = Number(existsSync(startedPidPath(stateDir)) ? readFileSync(startedPidPath(stateDir), "utf8").trim() : "");
  // The ready one, and one still starting (its caller died before it was ready).
  const pids = [...new Set([readFacts(stateDir)?.pid, Number.isInteger(started) && started > 0 ? started : undefined])].filter((p): p is number => p !== undefined && pidAlive(p));
  for (const pid of pids) process.kill(pid, "SIGTERM");
  for (let i = 0; i < 100 && pids.some(pidAlive); i++) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids) if (pidAlive(pid)) process.kill(pid, "SIGKILL");
}

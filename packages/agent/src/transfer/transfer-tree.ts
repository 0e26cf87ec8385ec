// The file-mode transfer of one source tree onto one target disk: walk once,
// plan streams, run one rsync per stream through the tunnel, then a folder
// metadata pass. Running it again after any interruption finishes the copy
// (rsync's quick check plus the partial dir), and on a changed source it is
// the incremental re-sync.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { HoistError } from "@hoist/protocol";
import { type Logger, silentLogger } from "@hoist/runtime";
import { TUNNEL_ENV } from "@hoist/transport";
import { killLeftovers, makeWorkDir, recordChildren, removeDeadWorkDirs } from "./leftovers";
import { excludeRules, folderPassRules, planStreams, type StreamPlan, streamFilterRules } from "./plan-streams";
import { buildRsyncArgs } from "./rsync-args";
import { interpretRsyncExit } from "./rsync-exit";
import { ChangeDetector, NO_SOURCE_CHANGES, SnapshotWriter, type SourceChanges } from "./source-changes";
import { walkSource } from "./walk";

export interface TransferProgress {
  bytesDone: number;
  bytesTotal: number;
  /** Bytes per second over the last few seconds. */
  bytesPerSecond: number;
  streams: number;
}

export interface TransferOptions {
  source: string;
  receiver: { host: string; dataPort: number; fingerprint: string };
  jobId: string;
  token: string;
  /** Target disk module: "system" or "diskN". */
  module: string;
  /** Parallel rsync streams (default 4). */
  streams?: number;
  /** Total limit in KB/s, shared by the streams; 0 or undefined: none. */
  bandwidthKBps?: number;
  /** 0 (off) to 10. */
  compression?: number;
  checksum?: boolean;
  /** rsync exclude patterns, relative to the source (e.g. "/dev/*"). */
  excludes?: readonly string[];
  /** Paths inside the source that are other filesystems to leave out (their folders stay, empty). */
  skipPaths?: readonly string[];
  /** argv that runs `hoist tunnel` (defaults to this process's node and script). */
  tunnel?: readonly string[];
  /** Where child pids are recorded so a rerun can stop leftovers. */
  stateFile?: string;
  onProgress?: (p: TransferProgress) => void;
  logger?: Logger;
  ioTimeoutSec?: number;
  /**
   * Stops the copy: its rsyncs and tunnels are killed and waited for, and the
   * call rejects with Transfer.Aborted. Running it again resumes the copy.
   */
  signal?: AbortSignal;
  /**
   * Walk the source again after the copy and report what changed since the
   * walk before it (default true). Costs a second walk of the tree.
   */
  reportChanges?: boolean;
}

export interface TransferResult {
  bytesTotal: number;
  streams: number;
  durationMs: number;
  /** Some source files disappeared during the copy (rsync exit 24). */
  vanishedFiles: boolean;
  /** What appeared, vanished or changed on the source between the walk before the copy and the walk after it. */
  changes: SourceChanges;
  plan: StreamPlan[];
}

interface StreamRun {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: string | null; stderr: string }>;
  bytes: number;
}

function startRsync(args: string[], env: NodeJS.ProcessEnv, usePdeathsig: boolean, onBytes: (n: number) => void): StreamRun {
  // PR_SET_PDEATHSIG: if the agent dies (even by SIGKILL) its rsyncs die with it.
  const child = usePdeathsig
    ? spawn("setpriv", ["--pdeathsig", "KILL", "rsync", ...args], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] })
    : spawn("rsync", args, { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  let pending = "";
  child.stdout?.on("data", (c: Buffer) => {
    pending += c.toString("latin1");
    const parts = pending.split(/[\r\n]/);
    pending = parts.pop() ?? "";
    for (const line of parts) {
      const m = /^\s*([\d,]+)\s+\d+%/.exec(line);
      if (m?.[1]) onBytes(Number(m[1].replace(/,/g, "")));
    }
  });
  child.stderr?.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString("utf8")).slice(-8000);
  });
  const done = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) => {
    child.on("error", (e) => resolve({ code: 127, signal: null, stderr: `${stderr}\n${e.message}` }));
    child.on("close", (code, signal) => {
      (child as ChildProcess & { closed?: boolean }).closed = true;
      resolve({ code, signal, stderr });
    });
  });
  return { child, done, bytes: 0 };
}

/**
 * The bundled CLI ships a small tunnel entry beside itself; each stream runs
 * one for the whole copy, so it is worth not loading the full CLI there.
 */
function defaultTunnel(): string[] {
  const light = fileURLToPath(new URL("./tunnel.mjs", import.meta.url));
  if (existsSync(light)) return [process.execPath, light];
  return [process.execPath, process.argv[1] ?? "hoist", "tunnel"];
}

function abortedError(module: string): HoistError {
  return new HoistError("Transfer.Aborted", `the copy of ${module} was stopped before it finished`, { fix: "Run the transfer again; it resumes where it stopped.", retryable: true });
}

/**
 * Signals a child's whole process group: rsync and the tunnel it runs as its
 * remote shell. Until the child's pipes close, something of the group still
 * runs (the tunnel shares rsync's stderr), so the group id is still ours.
 */
function signalGroup(child: ChildProcess & { closed?: boolean }, signal: NodeJS.Signals): void {
  if (child.closed || !child.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

export async function transferTree(options: TransferOptions): Promise<TransferResult> {
  const started = Date.now();
  const log = (options.logger ?? silentLogger).child({ jobId: options.jobId, disk: options.module });
  if (!existsSync(options.source)) throw new HoistError("Transfer.NoSource", `the source ${options.source} does not exist`);
  const signal = options.signal;
  if (signal?.aborted) throw abortedError(options.module);
  if (options.stateFile) {
    const killed = killLeftovers(options.stateFile);
    if (killed.length) log.warn("stopped rsync processes left by an earlier run", { pids: killed });
  }
  const streamsWanted = Math.max(1, Math.min(16, Math.floor(options.streams ?? 4)));
  const excludes = options.excludes ?? [];
  const skipPaths = options.skipPaths ?? [];
  const stale = removeDeadWorkDirs(tmpdir());
  if (stale.length) log.info("removed work folders of copies whose process died", { folders: stale.length });
  const work = makeWorkDir(tmpdir());
  const reportChanges = options.reportChanges ?? true;
  const snapshotFile = join(work, "source.snapshot");
  let walk: Awaited<ReturnType<typeof walkSource>>;
  try {
    const snapshot = reportChanges ? new SnapshotWriter(snapshotFile) : null;
    try {
      walk = await walkSource(options.source, { excludes, skipPaths, ...(snapshot ? { onEntry: (key, st) => snapshot.record(key, st) } : {}) });
    } finally {
      snapshot?.close();
    }
  } catch (e) {
    rmSync(work, { recursive: true, force: true });
    throw e;
  }
  const plan = planStreams(walk, { streams: streamsWanted });
  if (signal?.aborted) {
    rmSync(work, { recursive: true, force: true });
    throw abortedError(options.module);
  }
  log.info("transfer planned", { bytes: walk.totalBytes, entries: walk.totalEntries, streams: plan.length, units: plan.map((p) => p.units.length) });

  const tunnel = options.tunnel ?? defaultTunnel();
  const env = {
    ...process.env,
    [TUNNEL_ENV]: JSON.stringify({ host: options.receiver.host, port: options.receiver.dataPort, fingerprint: options.receiver.fingerprint, jobId: options.jobId, token: options.token }),
  };
  const usePdeathsig = existsSync("/usr/bin/setpriv") || existsSync("/bin/setpriv");
  const perStreamKBps = options.bandwidthKBps ? Math.max(1, Math.floor(options.bandwidthKBps / plan.length)) : undefined;
  const common = excludeRules(excludes, skipPaths);
  const argsFor = (filterFile: string, foldersOnly: boolean) =>
    buildRsyncArgs({
      source: options.source,
      module: options.module,
      filterFile,
      tunnel,
      bandwidthKBps: perStreamKBps,
      compression: options.compression,
      checksum: options.checksum,
      ioTimeoutSec: options.ioTimeoutSec,
      foldersOnly,
    });

  const runs: StreamRun[] = [];
  const children: ChildProcess[] = [];
  // On abort: SIGTERM to every group, SIGKILL to any still there a few seconds later.
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    for (const c of children) signalGroup(c, "SIGTERM");
    killTimer = setTimeout(() => {
      for (const c of children) signalGroup(c, "SIGKILL");
    }, 3000);
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  let lastReport = 0;
  const samples: { t: number; bytes: number }[] = [];
  const report = (force: boolean) => {
    if (!options.onProgress) return;
    const now = Date.now();
    if (!force && now - lastReport < 500) return;
    lastReport = now;
    const done = Math.min(walk.totalBytes, runs.reduce((s, r) => s + r.bytes, 0));
    samples.push({ t: now, bytes: done });
    while (samples.length > 2 && now - samples[0]!.t > 5000) samples.shift();
    const first = samples[0]!;
    const speed = now > first.t ? ((done - first.bytes) * 1000) / (now - first.t) : 0;
    options.onProgress({ bytesDone: done, bytesTotal: walk.totalBytes, bytesPerSecond: Math.max(0, speed), streams: plan.length });
  };

  try {
    for (const p of plan) {
      const filterFile = join(work, `stream-${p.index}.rules`);
      writeFileSync(filterFile, `${streamFilterRules(plan, p.index, common).join("\0")}\0`, { mode: 0o600 });
      const run = startRsync(argsFor(filterFile, false), env, usePdeathsig, (n) => {
        run.bytes = n;
        report(false);
      });
      runs.push(run);
      children.push(run.child);
    }
    if (options.stateFile) recordChildren(options.stateFile, runs.map((r) => r.child.pid).filter((p): p is number => p !== undefined));
    const exits = await Promise.all(runs.map((r) => r.done));
    if (signal?.aborted) throw abortedError(options.module);
    const outcomes = exits.map((o) => interpretRsyncExit(o.code, o.signal, o.stderr));
    // Of several failed streams, the one that says most: a full disk, then anything but a bare file I/O error.
    const failed =
      outcomes.find((o) => !o.ok && o.error?.code === "Receiver.DiskFull") ??
      outcomes.find((o) => !o.ok && o.error?.code !== "Transfer.FileIO") ??
      outcomes.find((o) => !o.ok);
    if (failed?.error) throw failed.error;
    let vanished = outcomes.some((o) => o.vanished);
    if (plan.length > 1) {
      const filterFile = join(work, "folders.rules");
      writeFileSync(filterFile, `${folderPassRules(plan, common).join("\0")}\0`, { mode: 0o600 });
      const pass = startRsync(argsFor(filterFile, true), env, usePdeathsig, () => {});
      children.push(pass.child);
      if (options.stateFile) recordChildren(options.stateFile, pass.child.pid ? [pass.child.pid] : []);
      const o = await pass.done;
      if (signal?.aborted) throw abortedError(options.module);
      const outcome = interpretRsyncExit(o.code, o.signal, o.stderr);
      if (!outcome.ok && outcome.error) throw outcome.error;
      vanished ||= outcome.vanished;
    }
    for (const r of runs) r.bytes = walk.totalBytes / runs.length;
    report(true);
    let changes = NO_SOURCE_CHANGES;
    if (reportChanges) {
      const detector = new ChangeDetector(snapshotFile);
      try {
        await walkSource(options.source, { excludes, skipPaths, onEntry: (key, st) => detector.visit(key, st) });
      } finally {
        changes = detector.finish();
      }
      if (signal?.aborted) throw abortedError(options.module);
    }
    const result = { bytesTotal: walk.totalBytes, streams: plan.length, durationMs: Date.now() - started, vanishedFiles: vanished, changes, plan };
    log.info("transfer finished", { bytes: result.bytesTotal, streams: result.streams, ms: result.durationMs, appeared: changes.appeared, vanished: changes.vanished, changed: changes.changed });
    return result;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    clearTimeout(killTimer);
    for (const c of children) signalGroup(c, "SIGTERM");
    if (options.stateFile) rmSync(options.stateFile, { force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

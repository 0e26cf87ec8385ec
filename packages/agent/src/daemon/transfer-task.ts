// A transfer task: the disks of a replication job copied one after another to
// the receiver, with the same excludes a one-shot `hoist migrate` uses. While
// it runs, progress goes to the server every couple of seconds; the answer
// may stop the work (job paused or cancelled) or bring new settings, which
// restart the current disk's copy with them (rsync resumes where it was).
import { lstatSync, mkdirSync } from "node:fs";
import { join, posix } from "node:path";
import { type DiskSourceChanges, HoistError, isHoistError, sourceChangesSummary, type TaskProgressRequest, TaskProgressResponseSchema, type TaskResultRequest, type TransferSettings, type TransferTask } from "@hoist/protocol";
import type { Logger } from "@hoist/runtime";
import { transferPartitionBlocks } from "../block/index";
import { diskSourceChanges, transferTree } from "../transfer/index";
import { readExcludes } from "../workdir";
import type { ControlPlaneClient } from "./control-client";
import { sleep } from "./sleep";

type TransferDisk = TransferTask["disks"][number];

export interface TransferTaskContext {
  client: ControlPlaneClient;
  sourceRoot: string;
  stateDir: string;
  log: Logger;
  /** Aborts when the task must end without a result (the agent stops, or a newer task replaced it). */
  signal: AbortSignal;
  tunnel?: readonly string[] | undefined;
  progressIntervalMs: number;
  /** Waits before each new attempt after a copy failed in a way that may pass (default 2, 5 and 10 s). */
  retryDelaysMs?: readonly number[] | undefined;
}

/**
 * A copy that failed in a way that may pass (a dropped connection, a stall, a
 * receiver restarting) is tried again a few times before the task fails; it
 * resumes where it stopped. The last attempt's error is what the job shows,
 * so a receiver that dropped a copy because its disk filled up, and refuses
 * the next one with Receiver.DiskFull, is reported as a full disk.
 */
const RETRY_DELAYS_MS = [2000, 5000, 10_000];

const DATA_DISK = /^disk([1-9]|1[0-6])$/;

function sourcePathOf(disk: TransferDisk): string {
  const p = disk.sourcePath;
  if (!p.startsWith("/") || p.split("/").includes("..")) {
    throw new HoistError("AgentTask.InvalidDisk", `disk ${disk.module} has the source path ${JSON.stringify(p)}, which is not an absolute path without ".."`, {
      fix: "Set the data disk's SourcePath to an absolute folder on the source, e.g. /data.",
    });
  }
  return posix.normalize(p).replace(/(.)\/+$/, "$1");
}

/** A folder keeps its place on the target with nothing in it (like a skipped mount point); anything else is left out whole. */
function isFolder(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Each disk's rsync excludes: the defaults of a one-shot migration (the Linux
 * defaults and the data disks' folders on the system disk; exclude files in
 * the state folder's Excludes/ like in hoist migrate's working folder), plus
 * the task's own paths, made relative to the disk's source path. An excluded
 * folder stays on the target, empty, as the default excludes leave /mnt.
 */
export function transferExcludes(task: Pick<TransferTask, "disks">, where: { sourceRoot: string; stateDir: string }): Map<string, string[]> {
  const dataDisks = task.disks.flatMap((d) => {
    if (d.module === "system") return [];
    const m = DATA_DISK.exec(d.module);
    if (!m?.[1]) throw new HoistError("AgentTask.InvalidDisk", `"${d.module}" is not a target disk (system or disk1–disk16)`, { fix: "Update hoist agent and hoist server to the same version." });
    return [{ data_disk_index: Number(m[1]), src_path: sourcePathOf(d) }];
  });
  const defaults = readExcludes(where.stateDir, dataDisks);
  const out = new Map<string, string[]>();
  for (const disk of task.disks) {
    const src = sourcePathOf(disk);
    const base = disk.module === "system" ? defaults.system : (defaults.dataDisks[Number(disk.module.slice(4))] ?? []);
    const own: string[] = [];
    for (const raw of disk.excludes) {
      if (raw.split("/").includes("..")) {
        throw new HoistError("Config.InvalidExclude", `disk ${disk.module}: the exclude ${JSON.stringify(raw)} contains "..", which exclude paths may not use`, { fix: "Give excluded paths as absolute paths on the source without \"..\"." });
      }
      // Patterns (wildcards, or relative ones like lost+found/*) go to rsync as they are.
      if (!raw.startsWith("/") || /[*?[]/.test(raw)) {
        own.push(raw);
        continue;
      }
      const path = posix.normalize(raw).replace(/(.)\/+$/, "$1");
      const inDisk = src === "/" ? path : path.startsWith(`${src}/`) ? path.slice(src.length) : null;
      // Paths outside this disk's folder are not in its copy anyway.
      if (inDisk === null || inDisk === "/") continue;
      own.push(isFolder(join(where.sourceRoot, path)) ? `${inDisk}/*` : inDisk);
    }
    out.set(disk.module, [...new Set([...base, ...own])]);
  }
  return out;
}

/** Bytes done across the task's disks, and the speed over the last few seconds. */
class ProgressMeter {
  done = 0;
  disk: string | undefined;
  private readonly samples: { t: number; done: number }[] = [];
  constructor(private readonly planned: number) {}

  update(done: number, disk: string): void {
    // rsync counts only what one run sends, so a resumed copy never takes the count back.
    this.done = Math.max(this.done, Math.floor(done));
    this.disk = disk;
  }

  report(now = Date.now()): TaskProgressRequest {
    this.samples.push({ t: now, done: this.done });
    while (this.samples.length > 2 && now - this.samples[0]!.t > 10_000) this.samples.shift();
    const first = this.samples[0]!;
    const speed = now > first.t ? ((this.done - first.done) * 1000) / (now - first.t) : 0;
    return { bytesDone: this.done, bytesTotal: Math.max(this.planned, this.done), bytesPerSecond: Math.max(0, Math.round(speed)), ...(this.disk ? { disk: this.disk } : {}) };
  }
}

/** Copies the task's disks; resolves with its result, or null when it was stopped and must report nothing. */
export async function runTransferTask(task: TransferTask, ctx: TransferTaskContext): Promise<TaskResultRequest | null> {
  const { log } = ctx;
  // The server's stop, the agent's stop, or a newer task: every way this task ends without a result.
  const ended = new AbortController();
  const endWithOuter = () => ended.abort();
  if (ctx.signal.aborted) ended.abort();
  ctx.signal.addEventListener("abort", endWithOuter, { once: true });

  const excludes = transferExcludes(task, ctx);
  const stateDir = join(ctx.stateDir, "transfers");
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const fileId = task.jobId.replace(/[^A-Za-z0-9_.-]/g, "_");

  let settings: TransferSettings = task.settings;
  let settingsVersion = task.settingsVersion;
  let copy: AbortController | null = null;
  let restartWanted = false;
  const meter = new ProgressMeter(task.disks.reduce((n, d) => n + d.usedBytes, 0));
  const progressPath = `/v1/agents/tasks/${encodeURIComponent(task.taskId)}/progress`;
  let failing = false;

  const answer = (body: unknown) => {
    const parsed = TaskProgressResponseSchema.safeParse(body);
    if (!parsed.success) {
      log.warn("the server's answer to a progress report was not understood; carrying on");
      return;
    }
    const a = parsed.data;
    if (a.action === "stop") {
      log.info("the server stopped this task (its job was paused or cancelled)");
      ended.abort();
      return;
    }
    if (a.settings && a.settingsVersion !== undefined && a.settingsVersion > settingsVersion) {
      settings = a.settings;
      settingsVersion = a.settingsVersion;
      log.info("new transfer settings", { settingsVersion, streams: settings.streams, bandwidthKBps: settings.bandwidthKBps, compression: settings.compression, checksum: settings.checksum });
      if (copy) {
        restartWanted = true;
        copy.abort();
      }
    }
  };

  let inFlight: Promise<void> | null = null;
  const post = (): Promise<void> => {
    const send = async () => {
      try {
        answer(await ctx.client.request("POST", progressPath, meter.report(), { signal: ended.signal }));
        if (failing) log.info("progress reaches the server again");
        failing = false;
      } catch (e) {
        if (ended.signal.aborted) return;
        if (isHoistError(e) && (e.code === "AgentTask.NotFound" || e.code === "AgentTask.NotRunning")) {
          log.info("the server no longer has this task; stopping it", { code: e.code });
          ended.abort();
          return;
        }
        // Progress is only news: the next report carries the newer numbers.
        if (!failing) log.warn("progress did not reach the server; trying again with the next report", { code: isHoistError(e) ? e.code : "Internal.Error", error: e instanceof Error ? e.message : String(e) });
        failing = true;
      }
    };
    // One report at a time, in order, so the server never sees the count go back.
    const next = (inFlight ?? Promise.resolve()).then(send);
    inFlight = next;
    next.then(() => {
      if (inFlight === next) inFlight = null;
    });
    return next;
  };

  const tickerDone = new AbortController();
  const ticker = (async () => {
    while (!tickerDone.signal.aborted) {
      await sleep(ctx.progressIntervalMs, tickerDone.signal);
      // A slow server gets one report at a time; a tick that finds one still on its way is skipped.
      if (!tickerDone.signal.aborted && !inFlight) await post();
    }
  })();

  try {
    let doneBefore = 0;
    let vanished = false;
    const changedDuringCopy: DiskSourceChanges[] = [];
    // Runs one copy; when new settings arrive it is stopped and run again with them (it resumes).
    const delays = ctx.retryDelaysMs ?? RETRY_DELAYS_MS;
    const restartable = async <T>(what: string, work: (signal: AbortSignal) => Promise<T>): Promise<T | null> => {
      let failures = 0;
      for (;;) {
        if (ended.signal.aborted) return null;
        const thisCopy = new AbortController();
        const stopCopy = () => thisCopy.abort();
        ended.signal.addEventListener("abort", stopCopy, { once: true });
        copy = thisCopy;
        restartWanted = false;
        try {
          return await work(thisCopy.signal);
        } catch (e) {
          if (ended.signal.aborted) return null;
          if (restartWanted && isHoistError(e) && e.code === "Transfer.Aborted") {
            log.info("restarting the copy with the new settings", { copy: what, settingsVersion });
            continue;
          }
          const wait = delays[failures];
          if (isHoistError(e) && e.retryable && e.code !== "Transfer.Aborted" && wait !== undefined) {
            failures++;
            log.warn("the copy failed; trying again, it resumes", { copy: what, code: e.code, error: e.message, attempt: failures, waitMs: wait });
            await sleep(wait, ended.signal);
            continue;
          }
          throw e;
        } finally {
          copy = null;
          ended.signal.removeEventListener("abort", stopCopy);
        }
      }
    };
    for (const disk of task.disks) {
      // Partitions copied by block go first: the file copy of the rest lands inside the mounted disk.
      for (const part of disk.blockPartitions ?? []) {
        const r = await restartable(part.partition, (signal) =>
          transferPartitionBlocks({
            source: part.device,
            receiver: task.receiver,
            jobId: task.receiverJobId,
            token: task.token,
            partition: part.partition,
            compression: settings.compression,
            bandwidthKBps: settings.bandwidthKBps,
            logger: log,
            signal,
            onProgress: (p) => meter.update(doneBefore + p.bytesDone, disk.module),
          }),
        );
        if (!r) return null;
        log.info("partition copied by block", { partition: part.partition, mountPoint: part.mountPoint, usedBytes: r.usedBytes, bytesSent: r.bytesSent, consistency: r.consistency });
        doneBefore += r.usedBytes;
        meter.update(doneBefore, disk.module);
      }
      if (disk.blockOnly) {
        await post();
        if (ended.signal.aborted) return null;
        continue;
      }
      let counted = 0;
      const result = await restartable(disk.module, (signal) => {
        const before = counted;
        return transferTree({
          source: join(ctx.sourceRoot, sourcePathOf(disk)),
          receiver: task.receiver,
          jobId: task.receiverJobId,
          token: task.token,
          module: disk.module,
          streams: settings.streams,
          bandwidthKBps: settings.bandwidthKBps,
          compression: settings.compression,
          checksum: settings.checksum,
          excludes: excludes.get(disk.module) ?? [],
          ...(ctx.tunnel ? { tunnel: ctx.tunnel } : {}),
          stateFile: join(stateDir, `${fileId}-${disk.module}.json`),
          logger: log,
          signal,
          onProgress: (p) => {
            counted = Math.min(p.bytesTotal, before + p.bytesDone);
            meter.update(doneBefore + counted, disk.module);
          },
        });
      });
      if (!result) return null;
      vanished ||= result.vanishedFiles;
      const changes = diskSourceChanges(disk.module, sourcePathOf(disk), result.changes);
      changedDuringCopy.push(changes);
      if (changes.appeared + changes.vanished + changes.changed > 0) {
        log.info("the source changed during the copy; the next sync brings it over", {
          disk: disk.module,
          summary: sourceChangesSummary(changes),
          paths: changes.paths.slice(0, 10).map((p) => `${p.change} ${p.path}`),
        });
      }
      doneBefore += result.bytesTotal;
      meter.update(doneBefore, disk.module);
      await post();
      if (ended.signal.aborted) return null;
    }
    return { ok: true, bytesTotal: doneBefore, vanishedFiles: vanished, changedDuringCopy };
  } finally {
    tickerDone.abort();
    await ticker;
    ctx.signal.removeEventListener("abort", endWithOuter);
  }
}

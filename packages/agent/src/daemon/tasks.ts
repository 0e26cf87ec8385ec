// The work `hoist server` hands to `hoist agent` with its heartbeats (agent
// tasks): an inventory for a job's plan, or the copy of a job's disks. Tasks
// run beside the heartbeat loop, never in it. Each ends with one result
// posted to the server, retried until the server answers, so a server
// restarting in the middle loses nothing; a task the server stopped, or that
// the agent's own stop cut short, reports nothing (the server hands it out
// again, and running a task again is always safe).
import { join } from "node:path";
import { type BlockSource, describeBlockSource } from "../block/index";
import { collectInventory } from "@hoist/images";
import { type AgentTask, AgentTaskSchema, HoistError, type InventoryTask, isHoistError, type TaskResultRequest, toHoistError } from "@hoist/protocol";
import type { Logger } from "@hoist/runtime";
import type { ControlPlaneClient } from "./control-client";
import { sleep, untilAborted } from "./sleep";
import { runTransferTask } from "./transfer-task";

export interface AgentTaskRunnerOptions {
  /** Speaks to the server with the agent's token. */
  client: ControlPlaneClient;
  sourceRoot: string;
  stateDir: string;
  /** `addSecret`, when the logger has it, keeps each task's receiver token out of the log. */
  logger: Logger & { addSecret?: (secret: string) => void };
  /** argv that runs `hoist tunnel` (default: this executable). */
  tunnel?: readonly string[] | undefined;
  /** How often a transfer reports progress (default 2 s). */
  progressIntervalMs?: number | undefined;
  /** First and longest wait between attempts to deliver a result (default 1 s, 30 s). */
  resultRetryMs?: { first: number; max: number } | undefined;
}

interface RunningTask {
  task: AgentTask;
  stop: AbortController;
  done: Promise<void>;
}

/** The tasks in a heartbeat answer that this agent understands; others are logged and left. */
export function tasksIn(answer: unknown, log: Logger): AgentTask[] {
  const raw = (answer as { tasks?: unknown } | null)?.tasks;
  if (!Array.isArray(raw)) return [];
  const tasks: AgentTask[] = [];
  for (const item of raw) {
    const parsed = AgentTaskSchema.safeParse(item);
    if (parsed.success) tasks.push(parsed.data);
    else log.warn("the server handed out a task this agent does not understand; update hoist agent", { taskId: (item as { taskId?: unknown } | null)?.taskId, kind: (item as { kind?: unknown } | null)?.kind });
  }
  return tasks;
}

function resultError(e: unknown): Extract<TaskResultRequest, { ok: false }> {
  const err = toHoistError(e);
  return { ok: false, error: { code: err.code.slice(0, 128), message: err.message.slice(0, 4000), ...(err.fix ? { fix: err.fix.slice(0, 2000) } : {}) } };
}

function stoppedError(): HoistError {
  return new HoistError("AgentTask.Stopped", "the task was stopped before it finished", { fix: "Nothing to do; the server hands the task out again when it is wanted.", retryable: true });
}

async function runInventoryTask(task: InventoryTask, sourceRoot: string, signal: AbortSignal): Promise<TaskResultRequest> {
  for (const p of task.paths) {
    if (!p.startsWith("/") || p.split("/").includes("..")) {
      throw new HoistError("AgentTask.InvalidPath", `the folder ${JSON.stringify(p)} to measure is not an absolute path without ".."`, { fix: "Give data disks' SourcePath as absolute folders on the source, e.g. /data." });
    }
  }
  const root = join(sourceRoot, "/");
  const work = collectInventory(root, { paths: task.paths.map((p) => join(root, p)), ...(task.bootMode === "auto" ? {} : { bootMode: task.bootMode }) });
  const inventory = await untilAborted(work, signal, stoppedError);
  // The server knows these folders by their paths on the source, whatever folder this agent reads it from.
  const paths = inventory.paths.map((p, i) => ({ path: task.paths[i] ?? p.path, usedBytes: p.usedBytes }));
  const blockSources: BlockSource[] = [];
  for (const p of task.blockPaths ?? []) {
    if (!p.startsWith("/") || p.split("/").includes("..")) {
      throw new HoistError("AgentTask.InvalidPath", `the mount point ${JSON.stringify(p)} to copy by block is not an absolute path without ".."`, { fix: "Give data disks' SourcePath as absolute folders on the source, e.g. /data." });
    }
    blockSources.push(await untilAborted(describeBlockSource(p, join(root, p)), signal, stoppedError));
  }
  return { ok: true, inventory: { ...inventory, paths }, ...(blockSources.length ? { blockSources } : {}) };
}

export class AgentTaskRunner {
  private readonly running = new Map<string, RunningTask>();
  private stopping = false;
  private readonly waiting = new Set<() => void>();

  constructor(private readonly opts: AgentTaskRunnerOptions) {
    // A result waiting for the server goes as soon as the server answers anything again (a heartbeat),
    // not at the end of its backoff: a restarted server hears what it missed at once.
    opts.client.onReachable(() => {
      for (const wake of [...this.waiting]) wake();
    });
  }

  /** Waits `ms`, or less when the agent stops or the server is back. */
  private async backoff(ms: number, signal: AbortSignal): Promise<void> {
    const back = new AbortController();
    const wake = () => back.abort();
    this.waiting.add(wake);
    try {
      await sleep(ms, AbortSignal.any([signal, back.signal]));
    } finally {
      this.waiting.delete(wake);
    }
  }

  /** The tasks being worked on, for the heartbeat (at most 16, as the server takes). */
  runningTaskIds(): string[] {
    return [...this.running.keys()].slice(0, 16);
  }

  /** Starts a task unless it already runs; returns at once. */
  start(task: AgentTask): boolean {
    if (this.stopping || this.running.has(task.taskId)) return false;
    if (task.kind === "transfer") this.opts.logger.addSecret?.(task.token);
    // A newer task of the same job and kind replaces one still running (the job was paused and resumed meanwhile).
    const older = [...this.running.values()].filter((r) => r.task.jobId === task.jobId && r.task.kind === task.kind);
    for (const r of older) r.stop.abort();
    const stop = new AbortController();
    const log = this.opts.logger.child({ taskId: task.taskId, jobId: task.jobId, task: task.kind });
    const entry: RunningTask = { task, stop, done: Promise.resolve() };
    entry.done = (async () => {
      await Promise.all(older.map((r) => r.done));
      await this.run(task, stop.signal, log);
    })()
      .catch((e: unknown) => log.error("task ended unexpectedly", { error: e instanceof Error ? e.message : String(e) }))
      .finally(() => {
        if (this.running.get(task.taskId) === entry) this.running.delete(task.taskId);
      });
    this.running.set(task.taskId, entry);
    return true;
  }

  /** Stops every task (their rsyncs and tunnels killed) and waits until they have ended. */
  async stop(): Promise<void> {
    this.stopping = true;
    const all = [...this.running.values()];
    for (const r of all) r.stop.abort();
    await Promise.all(all.map((r) => r.done));
  }

  private async run(task: AgentTask, signal: AbortSignal, log: Logger): Promise<void> {
    if (signal.aborted) return;
    log.info("task started");
    let result: TaskResultRequest | null;
    try {
      result =
        task.kind === "inventory"
          ? await runInventoryTask(task, this.opts.sourceRoot, signal)
          : await runTransferTask(task, { client: this.opts.client, sourceRoot: this.opts.sourceRoot, stateDir: this.opts.stateDir, log, signal, tunnel: this.opts.tunnel, progressIntervalMs: this.opts.progressIntervalMs ?? 2000 });
    } catch (e) {
      if (signal.aborted) result = null;
      else {
        const failed = resultError(e);
        log.error("task failed", { code: failed.error.code, error: failed.error.message });
        result = failed;
      }
    }
    if (!result) {
      log.info("task stopped before it finished; no result reported");
      return;
    }
    await this.deliver(task, result, signal, log);
  }

  /** Posts the result until the server answers; only the agent stopping ends the attempts. */
  private async deliver(task: AgentTask, result: TaskResultRequest, signal: AbortSignal, log: Logger): Promise<void> {
    const path = `/v1/agents/tasks/${encodeURIComponent(task.taskId)}/result`;
    const { first, max } = this.opts.resultRetryMs ?? { first: 1000, max: 30_000 };
    let wait = first;
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        await this.opts.client.request("POST", path, result, { signal });
        log.info(result.ok ? "task finished" : "task failure reported", { attempts: attempt });
        return;
      } catch (e) {
        if (signal.aborted) break;
        const code = isHoistError(e) ? e.code : "Internal.Error";
        if (code === "AgentTask.NotRunning" || code === "AgentTask.NotFound") {
          log.info("the server no longer wants this task's result; dropped", { code });
          return;
        }
        const status = isHoistError(e) ? e.details?.["status"] : undefined;
        const retryable = (isHoistError(e) && e.retryable) || (typeof status === "number" && status >= 500);
        if (!retryable) {
          log.error("the server refused this task's result", { code, error: e instanceof Error ? e.message : String(e) });
          return;
        }
        if (attempt === 1) log.warn("the task's result did not reach the server; retrying until it does", { code, error: e instanceof Error ? e.message : String(e) });
        await this.backoff(wait, signal);
        wait = Math.min(max, wait * 2);
      }
    }
    log.warn("the agent stopped before this task's result reached the server; the server hands the task out again");
  }
}

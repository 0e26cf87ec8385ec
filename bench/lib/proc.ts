// Running the measured commands: wall-clock timing, peak memory sampled from
// /proc while the process lives, and a cleanup stack that runs on success,
// failure and Ctrl-C alike so no mount, loop device or process outlives a run.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";

export interface RunOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** stdout and stderr are appended here (they would skew timings if echoed to a slow terminal). */
  logFile?: string;
  /** Called with the child's pid right after it starts. */
  onStart?: (child: ChildProcess) => void;
}

export interface Timed {
  seconds: number;
  exitCode: number;
}

/** Runs a command with an argument array and returns its wall-clock time; a non-zero exit is an error. */
export async function timed(cmd: string, args: string[], opts: RunOptions = {}): Promise<Timed> {
  const started = process.hrtime.bigint();
  const out = opts.logFile ? openSync(opts.logFile, "a") : "ignore";
  try {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ["ignore", out, out] });
    opts.onStart?.(child);
    const exitCode = await new Promise<number>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (exitCode !== 0) {
      const tail = opts.logFile ? readFileSync(opts.logFile, "utf8").split("\n").slice(-15).join("\n") : "";
      throw new Error(`${cmd} ${args.join(" ")} exited with ${exitCode}${tail ? `:\n${tail}` : ""}`);
    }
    return { seconds, exitCode };
  } finally {
    if (typeof out === "number") closeSync(out);
  }
}

/** Runs a helper command (not measured) and returns its stdout. */
export async function capture(cmd: string, args: string[], input?: string): Promise<string> {
  const child = spawn(cmd, args, { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on("data", (b: Buffer) => out.push(b));
  child.stderr?.on("data", (b: Buffer) => err.push(b));
  if (input !== undefined) child.stdin?.end(input);
  const code = await new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (c) => resolve(c ?? 1));
  });
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${code}: ${Buffer.concat(err).toString("utf8").trim()}`);
  return Buffer.concat(out).toString("utf8");
}

function statusKiB(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
      if (text) kids.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // the process ended between the listing and the read
  }
  return kids;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
}

export interface MemoryPeak {
  /** VmHWM of the process itself, in KiB: its own high-water mark, as the kernel counts it. */
  processKiB: number;
  /** Highest sum of RSS over the process and its descendants, minus excluded subtrees, in KiB. */
  treeKiB: number;
  /** At that highest sample: RSS in KiB and process count per program (e.g. "rsync", "node tunnel"). */
  treeByProgram: Record<string, { kib: number; processes: number }>;
}

/** A short name for a process: the program, plus the hoist subcommand for node processes. */
function programOf(pid: number): string {
  const argv = cmdline(pid).split(" ");
  const prog = (argv[0] ?? "?").split("/").pop() ?? "?";
  if (prog === "node") {
    const sub = argv.slice(1).find((a) => /^(migrate|tunnel|receiver)$/.test(a));
    return `node ${sub ?? argv[1]?.split("/").pop() ?? ""}`.trim();
  }
  return prog;
}

/**
 * Samples a process's memory until it exits. VmHWM is read on every tick, so
 * the last value before exit is the true peak; the tree sum is a sample.
 * Subtrees whose command line matches `exclude` (e.g. the local receiver,
 * which in real use runs on another host) are left out of the tree sum.
 */
export function sampleMemory(pid: number, exclude: RegExp | null, everyMs = 200): { stop: () => MemoryPeak } {
  const peak: MemoryPeak = { processKiB: 0, treeKiB: 0, treeByProgram: {} };
  const tick = (): void => {
    peak.processKiB = Math.max(peak.processKiB, statusKiB(pid, "VmHWM"));
    let sum = 0;
    const byProgram: MemoryPeak["treeByProgram"] = {};
    const stack = [pid];
    while (stack.length) {
      const p = stack.pop()!;
      if (p !== pid && exclude?.test(cmdline(p))) continue;
      const rss = statusKiB(p, "VmRSS");
      sum += rss;
      const name = programOf(p);
      const entry = byProgram[name] ?? { kib: 0, processes: 0 };
      entry.kib += rss;
      entry.processes += 1;
      byProgram[name] = entry;
      stack.push(...childrenOf(p));
    }
    if (sum > peak.treeKiB) {
      peak.treeKiB = sum;
      peak.treeByProgram = byProgram;
    }
  };
  tick();
  const timer = setInterval(tick, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

type CleanupStep = { what: string; step: () => Promise<void> | void };

/** Undo steps run last-in first-out; each runs even when an earlier one fails. */
export class Cleanup {
  private readonly steps: CleanupStep[] = [];

  add(what: string, step: () => Promise<void> | void): void {
    this.steps.push({ what, step });
  }

  async run(): Promise<void> {
    while (this.steps.length) {
      const { what, step } = this.steps.pop()!;
      try {
        await step();
      } catch (e) {
        process.stderr.write(`cleanup: ${what} failed: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
  }
}

/** Runs a benchmark body with its cleanup stack, also on SIGINT/SIGTERM. */
export async function withCleanup(body: (cleanup: Cleanup) => Promise<void>): Promise<void> {
  const cleanup = new Cleanup();
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\nstopped by ${signal}; cleaning up\n`);
    void cleanup.run().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await body(cleanup);
  } finally {
    await cleanup.run();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

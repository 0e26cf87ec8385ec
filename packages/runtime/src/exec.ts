// Running real tools (rsync, sfdisk, mkfs, qemu-img, …): always an argument
// array, never a shell string, and a failure becomes a HoistError that names
// the tool and carries the tail of its stderr.
import { spawn, type SpawnOptions } from "node:child_process";
import { HoistError } from "@hoist/protocol";

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Kill the tool after this many milliseconds. */
  timeoutMs?: number;
  /** Error code used when the tool fails. */
  code?: string;
  /** Exit codes that count as success. */
  okExitCodes?: number[];
  signal?: AbortSignal;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const spawnOptions: SpawnOptions = { cwd: options.cwd, env: options.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] };
    if (options.signal) spawnOptions.signal = options.signal;
    const child = spawn(cmd, args, spawnOptions);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (options.timeoutMs) timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      const missing = e.code === "ENOENT";
      reject(
        new HoistError(missing ? "Tool.NotFound" : (options.code ?? "Tool.Failed"), missing ? `${cmd} is not installed or not on PATH` : `${cmd} could not start: ${e.message}`, {
          fix: missing ? `Install the package that provides ${cmd}.` : undefined,
          cause: e,
        }),
      );
    });
    child.on("close", (exitCode, signal) => {
      if (timer) clearTimeout(timer);
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      const codeNum = exitCode ?? 128;
      if ((options.okExitCodes ?? [0]).includes(codeNum) && !signal) {
        resolve({ stdout, stderr, exitCode: codeNum });
        return;
      }
      const tail = stderr.trim().split("\n").slice(-5).join("\n");
      reject(
        new HoistError(options.code ?? "Tool.Failed", `${cmd} ${args.slice(0, 6).join(" ")}${args.length > 6 ? " …" : ""} failed (${signal ? `signal ${signal}` : `exit ${codeNum}`})${tail ? `: ${tail}` : ""}`, {
          retryable: false,
          details: { tool: cmd, exitCode: codeNum, signal },
        }),
      );
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** True when `cmd` can be found on PATH. */
export async function haveTool(cmd: string): Promise<boolean> {
  try {
    await run("sh", ["-c", 'command -v "$1"', "sh", cmd]);
    return true;
  } catch {
    return false;
  }
}

import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { HoistError } from "@hoist/protocol";

/** Whether a process with this pid exists (one owned by another user counts). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A running process's state letter and start time in clock ticks since boot (fields 3 and 22 of /proc/PID/stat). */
function procStat(pid: number): { state: string; start: string | undefined } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] ?? "", start: fields[19] };
  } catch {
    return undefined;
  }
}

/**
 * The process named in a pid file ("PID START\n") while it still runs, else
 * null: no file, garbage in it, a process that ended, or a number the system
 * has since given to another process (its start time differs).
 */
export function pidFileHolder(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return null;
  }
  const [pidText, start] = text.trim().split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0 || !pidAlive(pid)) return null;
  const stat = procStat(pid);
  // A zombie has ended; only its parent has not collected it yet.
  if (stat && (stat.state === "Z" || (start !== undefined && stat.start !== start))) return null;
  return pid;
}

export type PidFileClaim = { held: true; release(): void } | { held: false; holder: number };

/**
 * Makes this process the holder of a pid file, unless a live process holds it
 * (this one included: one holder at a time). The file is created exclusively,
 * so of two processes starting at once only one gets it; one left by a process
 * that died is taken over. `release` removes it if it is still this process's.
 */
export function claimPidFile(path: string): PidFileClaim {
  const line = `${process.pid} ${procStat(process.pid)?.start ?? ""}`.trim();
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, `${line}\n`, { flag: "wx", mode: 0o600 });
      return {
        held: true,
        release: () => {
          try {
            if (readFileSync(path, "utf8").trim() === line) rmSync(path, { force: true });
          } catch {
            // Already gone.
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const holder = pidFileHolder(path);
    if (holder !== null) return { held: false, holder };
    rmSync(path, { force: true });
  }
  throw new HoistError("Process.PidFileContended", `${path} kept changing while this process tried to take it`, { fix: "Check that only one copy of this command starts at a time, then start it again.", retryable: true });
}

/**
 * Sets this process's core file size limit to 0, soft and hard, so that a
 * crash never writes its memory (API keys, tokens, TLS keys) to disk; the
 * processes it starts inherit the limit. Node has no setrlimit, so util-linux's
 * prlimit does it; where that is missing the limit stays as it was (false).
 */
export function forbidCoreDumps(): boolean {
  const r = spawnSync("prlimit", [`--pid=${process.pid}`, "--core=0:0"], { stdio: "ignore", timeout: 5000 });
  return r.status === 0;
}

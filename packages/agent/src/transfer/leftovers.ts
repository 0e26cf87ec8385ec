// The engine records its rsync children (pid = process group) in a small
// file, so a rerun after the agent was killed can stop any that survived
// (where PR_SET_PDEATHSIG was not available) before starting over. Each copy
// also has a work folder named for its process (filter rules and the snapshot
// of the source's file list): those of processes that died are removed.
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pidAlive } from "@hoist/runtime";

const WORK_PREFIX = "hoist-transfer-";

/** A private work folder for one copy, named for this process: hoist-transfer-<pid>-XXXXXX. */
export function makeWorkDir(parent: string): string {
  return mkdtempSync(join(parent, `${WORK_PREFIX}${process.pid}-`));
}

/**
 * Removes the work folders in `parent` that copies of processes no longer running left behind
 * (an agent killed with SIGKILL cannot clean up). Only this user's folders of that exact name
 * are touched; a live process's folder stays. Returns the folders removed.
 */
export function removeDeadWorkDirs(parent: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return removed;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const m = /^hoist-transfer-(\d+)-[A-Za-z0-9]{6}$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    const path = join(parent, name);
    try {
      const st = lstatSync(path);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // gone meanwhile
    }
  }
  return removed;
}

function isRsyncGroup(pid: number): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.split("\0").some((a) => a === "rsync" || a.endsWith("/rsync"));
  } catch {
    return false;
  }
}

export function killLeftovers(stateFile: string): number[] {
  let pids: number[] = [];
  try {
    pids = (JSON.parse(readFileSync(stateFile, "utf8")) as { pgids?: number[] }).pgids ?? [];
  } catch {
    return [];
  }
  const killed: number[] = [];
  for (const pid of pids) {
    if (!Number.isInteger(pid) || pid <= 1 || !isRsyncGroup(pid)) continue;
    try {
      process.kill(-pid, "SIGKILL");
      killed.push(pid);
    } catch {
      // already gone
    }
  }
  rmSync(stateFile, { force: true });
  return killed;
}

export function recordChildren(stateFile: string, pgids: readonly number[]): void {
  writeFileSync(stateFile, `${JSON.stringify({ agentPid: process.pid, pgids })}\n`, { mode: 0o600 });
}

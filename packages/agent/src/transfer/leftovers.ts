// The engine records its rsync children (pid = process group) in a small
// file, so a rerun after the agent was killed can stop any that survived
// (where PR_SET_PDEATHSIG was not available) before starting over.
import { readFileSync, rmSync, writeFileSync } from "node:fs";

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

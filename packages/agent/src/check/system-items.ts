// Checks of the source machine itself: who runs the agent, its rsync, SELinux
// and room in the workdir. These look at the running host, because that is
// where the agent and its rsync run even when --source-root names a tree.
import { existsSync, readFileSync, statfsSync } from "node:fs";
import { join } from "node:path";
import { run } from "@hoist/runtime";
import type { CheckItem } from "./types";

/** Compares dotted versions numerically: 1.99 is after 1.9, 2.06 after 1.99. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split(".").map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function parseRsyncVersion(text: string): string | undefined {
  return /rsync\s+version\s+v?(\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
}

const INSTALL_RSYNC = "Install rsync 3.0 or later: apt-get install rsync -y (Debian, Ubuntu) or yum install rsync -y (CentOS, Red Hat).";

export function checkRoot(uid = process.getuid?.() ?? 0): CheckItem {
  return uid === 0
    ? { id: "root", status: "OK", detail: "running as root" }
    : { id: "root", status: "FAIL", detail: `running as uid ${uid}, so some files cannot be read`, fix: "Run hoist as root (sudo -i, then run it again)." };
}

export async function checkRsync(): Promise<CheckItem> {
  let out: string;
  try {
    out = (await run("rsync", ["--version"], { timeoutMs: 10_000 })).stdout;
  } catch {
    return { id: "rsync", status: "FAIL", detail: "rsync is not installed", fix: INSTALL_RSYNC };
  }
  const version = parseRsyncVersion(out);
  if (!version) return { id: "rsync", status: "WARN", detail: "rsync is installed but its version could not be read", fix: INSTALL_RSYNC };
  if (compareVersions(version, "3.0") < 0) return { id: "rsync", status: "FAIL", detail: `rsync ${version} is older than 3.0`, fix: INSTALL_RSYNC };
  return { id: "rsync", status: "OK", detail: `rsync ${version}` };
}

/** SELinux state of the running host, from getenforce or the kernel's own switch. */
export async function hostSelinuxMode(): Promise<"enforcing" | "permissive" | "disabled"> {
  try {
    const out = (await run("getenforce", [], { timeoutMs: 5_000 })).stdout.trim().toLowerCase();
    if (out === "enforcing" || out === "permissive" || out === "disabled") return out;
  } catch {
    // No getenforce: fall back to the kernel's switch.
  }
  try {
    return readFileSync("/sys/fs/selinux/enforce", "utf8").trim() === "1" ? "enforcing" : "permissive";
  } catch {
    return "disabled";
  }
}

export async function checkSelinux(sourceRoot: string, hostMode?: "enforcing" | "permissive" | "disabled"): Promise<CheckItem> {
  const mode = hostMode ?? (await hostSelinuxMode());
  if (mode === "enforcing") {
    return {
      id: "selinux",
      status: "FAIL",
      detail: "SELinux is enforcing",
      fix: "Run setenforce 0 now, and set SELINUX=disabled in /etc/selinux/config to keep it off after a reboot.",
    };
  }
  if (sourceRoot !== "/") {
    const cfg = join(sourceRoot, "etc/selinux/config");
    const tree = existsSync(cfg) ? /^\s*SELINUX\s*=\s*(\w+)/m.exec(readFileSync(cfg, "utf8"))?.[1]?.toLowerCase() : undefined;
    if (tree === "enforcing") {
      return {
        id: "selinux",
        status: "WARN",
        detail: `SELinux is ${mode} here, but the tree's etc/selinux/config says enforcing`,
        fix: `Set SELINUX=disabled (or permissive) in ${cfg}, or the migrated system may refuse logins until it is relabelled.`,
      };
    }
  }
  return { id: "selinux", status: "OK", detail: `SELinux is ${mode}` };
}

const MIB = 1024 * 1024;

export function checkWorkdirSpace(workdir: string): CheckItem {
  let free: number;
  try {
    const s = statfsSync(workdir);
    free = Number(s.bavail) * Number(s.bsize);
  } catch (e) {
    return { id: "workdir-space", status: "FAIL", detail: `cannot read the free space of ${workdir}: ${(e as Error).message}`, fix: "Pass --workdir with an existing folder." };
  }
  const shown = `${Math.floor(free / MIB)} MiB free in ${workdir}`;
  // Logs and client_data are small; these limits leave room for a long verbose run.
  if (free < 64 * MIB) return { id: "workdir-space", status: "FAIL", detail: shown, fix: `Free at least 64 MiB in ${workdir}, or choose another --workdir.` };
  if (free < 512 * MIB) return { id: "workdir-space", status: "WARN", detail: shown, fix: `Free up to 512 MiB in ${workdir} so long runs can keep their logs.` };
  return { id: "workdir-space", status: "OK", detail: shown };
}

// What `hoist migrate` settles before it creates anything, as go2aliyun_client
// does: rsync must be there (installed on request) and SELinux must not be
// enforcing (relaxed on request). Without --yes it asks on a terminal, and
// refuses with the fix when nobody can answer.
import { createInterface } from "node:readline/promises";
import { HoistError } from "@hoist/protocol";
import { haveTool, type Logger, run } from "@hoist/runtime";
import { checkRsync, hostSelinuxMode } from "./check/index";

export interface PreflightOptions {
  assumeYes: boolean;
  log: Logger;
  say: (line: string) => void;
  /** Asks a yes/no question; undefined when nobody can answer (no terminal). */
  ask?: (question: string) => Promise<boolean>;
}

export function terminalQuestion(): ((question: string) => Promise<boolean>) | undefined {
  if (!process.stdin.isTTY) return undefined;
  return async (question) => {
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    try {
      return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
    } finally {
      rl.close();
    }
  };
}

async function installRsync(log: Logger): Promise<void> {
  if (await haveTool("apt-get")) {
    await run("apt-get", ["install", "-y", "rsync"], { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }, code: "Agent.RsyncInstallFailed", timeoutMs: 600_000 });
  } else if (await haveTool("dnf")) {
    await run("dnf", ["install", "-y", "rsync"], { code: "Agent.RsyncInstallFailed", timeoutMs: 600_000 });
  } else if (await haveTool("yum")) {
    await run("yum", ["install", "-y", "rsync"], { code: "Agent.RsyncInstallFailed", timeoutMs: 600_000 });
  } else if (await haveTool("zypper")) {
    await run("zypper", ["--non-interactive", "install", "rsync"], { code: "Agent.RsyncInstallFailed", timeoutMs: 600_000 });
  } else {
    throw new HoistError("Agent.RsyncMissing", "rsync is not installed and no known package manager was found", { fix: "Install rsync 3.0 or later with your distribution's tools." });
  }
  log.info("installed rsync");
}

export async function preflight(options: PreflightOptions): Promise<void> {
  const consent = async (question: string): Promise<boolean> => options.assumeYes || ((await options.ask?.(question)) ?? false);

  const rsync = await checkRsync();
  if (rsync.status === "FAIL") {
    if (!(await consent(`${rsync.detail}. Install rsync now?`))) {
      throw new HoistError("Agent.RsyncMissing", `${rsync.detail}; the file copy needs it`, { fix: `${rsync.fix ?? "Install rsync."} Or run with --yes to let hoist install it.` });
    }
    options.say("Installing rsync.");
    await installRsync(options.log);
  }

  if ((await hostSelinuxMode()) === "enforcing") {
    if (!(await consent("SELinux is enforcing, which blocks the copy. Set it to permissive now (setenforce 0)?"))) {
      throw new HoistError("Agent.SelinuxEnforcing", "SELinux is enforcing; the migration cannot read and copy every file", {
        fix: "Run setenforce 0 (and set SELINUX=disabled in /etc/selinux/config), or run with --yes to let hoist relax it for this boot.",
      });
    }
    await run("setenforce", ["0"], { code: "Agent.SelinuxChangeFailed" });
    options.say("SELinux set to permissive for this boot.");
  }
}

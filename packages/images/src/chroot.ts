// Tools of the migrated system (update-initramfs, grub-mkimage, systemctl)
// run inside it, in a chroot with the intermediate instance's /dev, /proc and
// /sys mounted in; those mounts are always taken down again, even on failure.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { run, type RunOptions, type RunResult } from "@hoist/runtime";
import { isMounted, unmount } from "./loop";

const CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export async function withChroot<T>(root: string, body: (exec: (cmd: string, args: string[], opts?: RunOptions) => Promise<RunResult>) => Promise<T>): Promise<T> {
  const mounts: string[] = [];
  const bind = async (what: string[], dir: string): Promise<void> => {
    const target = join(root, dir);
    mkdirSync(target, { recursive: true });
    if (await isMounted(target)) return;
    await run("mount", [...what, target], { code: "Convert.ChrootFailed" });
    mounts.push(target);
  };
  try {
    await bind(["--bind", "/dev"], "dev");
    await bind(["-t", "proc", "proc"], "proc");
    await bind(["--bind", "/sys"], "sys");
    await bind(["-t", "tmpfs", "tmpfs"], "run");
    const exec = (cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> =>
      run("chroot", [root, cmd, ...args], { timeoutMs: 15 * 60_000, ...opts, env: { PATH: CHROOT_PATH, LANG: "C.UTF-8", DEBIAN_FRONTEND: "noninteractive", HOME: "/root", ...(opts.env ?? {}) } });
    return await body(exec);
  } finally {
    for (const m of mounts.reverse()) {
      // A lazy unmount as the last resort keeps a stuck tool from leaving the target mounted forever.
      await unmount(m).catch(() => run("umount", ["-l", m], { okExitCodes: [0, 32] }));
    }
  }
}

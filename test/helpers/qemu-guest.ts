// A throwaway Linux guest for tests that need a kernel feature the host lacks
// (device-mapper, for one): a root filesystem image made from a tree, booted
// straight into its kernel by QEMU with the serial console in a file, and
// killed when it powers off, when the console says it is done, or at a
// deadline, whichever comes first.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { debianExt4Image } from "./debian-fixture";
import { withMountedFile } from "./mounts";


/** The kernel and initramfs of a Debian root (its /boot), newest first. */
export function kernelOf(root: string): { kernel: string; initrd: string } {
  const version = readdirSync(join(root, "boot"))
    .filter((f) => f.startsWith("vmlinuz-"))
    .map((f) => f.slice("vmlinuz-".length))
    .sort()
    .at(-1);
  if (!version) throw new Error(`no kernel in ${root}/boot`);
  return { kernel: join(root, "boot", `vmlinuz-${version}`), initrd: join(root, "boot", `initrd.img-${version}`) };
}

/**
 * An ext4 filesystem image (no partition table, labelled guest-root) holding the Debian fixture, with
 * `edit` run on the mounted copy before it is closed. The image is a sparse file of `gib` GiB.
 */
export async function debianGuestRoot(file: string, gib: number, mountDir: string, edit: (mnt: string) => void): Promise<void> {
  await debianExt4Image(file, gib, "guest-root");
  withMountedFile(file, mountDir, edit);
}

export interface GuestDisk {
  file: string;
  format: "raw" | "qcow2";
  /** Shows in the guest as /dev/disk/by-id/virtio-<serial>. */
  serial?: string;
}

export interface GuestRun {
  /** Everything the guest wrote to its serial console. */
  console: string;
  /** Why the run ended. */
  ended: "powered-off" | "done" | "timeout";
  ms: number;
}

export interface Guest {
  proc: ChildProcess;
  /** Resolves when the guest powers off, when `done` matches the console, or at the deadline (QEMU is killed then). */
  finished: Promise<GuestRun>;
  kill(): Promise<void>;
}

/** Boots `kernel` with the disks (the first is the root, /dev/vda) under TCG or KVM, user networking and 2 vCPUs. */
export function bootGuest(opts: { kernel: string; initrd: string; append: string; disks: GuestDisk[]; consoleLog: string; memoryMiB?: number; timeoutMs: number; done?: RegExp }): Guest {
  const kvm = existsSync("/dev/kvm") && /\b(vmx|svm)\b/.test(readFileSync("/proc/cpuinfo", "utf8"));
  const args = ["-nodefaults", "-no-reboot", "-m", String(opts.memoryMiB ?? 2048), "-smp", "2", "-accel", kvm ? "kvm" : "tcg", "-nographic", "-monitor", "none", "-vga", "none", "-serial", `file:${opts.consoleLog}`];
  args.push("-kernel", opts.kernel, "-initrd", opts.initrd, "-append", opts.append);
  opts.disks.forEach((d, i) => {
    args.push("-drive", `file=${d.file},format=${d.format},if=none,id=d${i},cache=unsafe`, "-device", `virtio-blk-pci,drive=d${i}${d.serial ? `,serial=${d.serial}` : ""}`);
  });
  args.push("-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0");
  const started = Date.now();
  const proc = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  const exited = new Promise<void>((r) => proc.once("close", () => r()));
  const spawnFailed = new Promise<Error>((r) => proc.once("error", r));
  const read = () => (existsSync(opts.consoleLog) ? readFileSync(opts.consoleLog, "utf8") : "");
  const kill = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  };
  const finished = (async (): Promise<GuestRun> => {
    const deadline = started + opts.timeoutMs;
    let ended: GuestRun["ended"] = "timeout";
    while (Date.now() < deadline) {
      const tick = await Promise.race([exited.then(() => "exit" as const), spawnFailed, new Promise<null>((r) => setTimeout(() => r(null), 1000))]);
      if (tick instanceof Error) throw new Error(`QEMU could not start: ${tick.message}`);
      if (tick === "exit") {
        if (proc.exitCode !== 0) throw new Error(`QEMU exited with ${proc.exitCode ?? proc.signalCode}: ${stderr.trim()}`);
        ended = "powered-off";
        break;
      }
      if (opts.done?.test(read())) {
        ended = "done";
        break;
      }
    }
    await kill();
    return { console: read(), ended, ms: Date.now() - started };
  })();
  return { proc, finished, kill };
}

// Verification by boot: the image's disks under QEMU (KVM when it really
// works, TCG otherwise) with snapshot=on so the image itself never changes,
// watched on the serial console until the system reports multi-user and its
// mounts, fails, or the time runs out. QEMU is always killed.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HoistError, type ImageManifest } from "@hoist/protocol";
import { type Logger, silentLogger } from "@hoist/runtime";
import { VERIFY_MARKER } from "./guest-config";
import { imagePath, readManifest, writeManifest } from "./image-store";

export interface VerifyOptions {
  timeoutSeconds?: number;
  memoryMiB?: number;
  log?: Logger;
}

export interface VerifyResult {
  booted: boolean;
  bootSeconds: number;
  reachedMultiUser: boolean;
  mountedAll: boolean;
  /** Mount points of the image that the boot did not show mounted. */
  missingMounts: string[];
  reason: string | null;
  consoleLogPath: string;
}

const OVMF_PAIRS = [
  ["/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"],
  ["/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"],
  ["/usr/share/qemu/OVMF_CODE.fd", "/usr/share/qemu/OVMF_VARS.fd"],
] as const;

/** /dev/kvm can exist while the CPU offers no virtualisation to us; only then is TCG the honest choice. */
export function kvmUsable(): boolean {
  if (!existsSync("/dev/kvm")) return false;
  try {
    closeSync(openSync("/dev/kvm", "r+"));
  } catch {
    return false;
  }
  const cpu = readFileSync("/proc/cpuinfo", "utf8");
  return /\b(vmx|svm)\b/.test(cpu);
}

const FAILURE = [/emergency mode/i, /Give root password for maintenance/i, /Kernel panic/i, /Dependency failed for/i, /Failed to mount/i, /ALERT! .* does not exist/i, /error: no such device/i, /error: file .* not found/i];

export interface ConsoleReading {
  reachedMultiUser: boolean;
  loginPrompt: boolean;
  verifyLine: string | null;
  mounted: string[] | null;
  failure: string | null;
}

/** What the serial log says so far. */
export function readConsole(text: string): ConsoleReading {
  const verify = new RegExp(`${VERIFY_MARKER} mounts=(\\S*) failed=(\\S*) end`).exec(text);
  const failureLine = text.split("\n").find((l) => FAILURE.some((re) => re.test(l)));
  return {
    reachedMultiUser: /Reached target .*[Mm]ulti-[Uu]ser/.test(text) || verify !== null,
    loginPrompt: /login: *$/m.test(text),
    verifyLine: verify?.[0] ?? null,
    mounted: verify ? (verify[1] ?? "").split(",").filter(Boolean) : null,
    failure: failureLine ? failureLine.replace(/\x1b\[[0-9;]*m/g, "").trim() : null,
  };
}

/** Which expected mount points the console shows as mounted. */
export function missingMounts(reading: ConsoleReading, text: string, expected: string[]): string[] {
  if (reading.mounted) return expected.filter((m) => !reading.mounted?.includes(m));
  // Without the report line, fall back to systemd's "Mounted … - /mnt/x." status lines ("/" is mounted by the initramfs).
  return expected.filter((m) => m !== "/" && !text.includes(`- ${m}.`) && !text.includes(`Mounted ${m}`));
}

function qemuArgs(manifest: ImageManifest, store: string, consoleLog: string, varsCopy: string | null, memoryMiB: number, cpus: number): string[] {
  const args = ["-nodefaults", "-m", String(memoryMiB), "-smp", String(cpus), "-nographic", "-monitor", "none", "-serial", `file:${consoleLog}`];
  args.push(...(kvmUsable() ? ["-accel", "kvm", "-cpu", "host"] : ["-accel", "tcg"]));
  if (manifest.bootMode === "uefi") {
    const pair = OVMF_PAIRS.find(([code]) => existsSync(code));
    if (!pair || !varsCopy) throw new HoistError("Verify.NoUefiFirmware", "No OVMF firmware was found to boot a UEFI image.", { fix: "Install Debian's ovmf package." });
    args.push("-machine", "q35", "-drive", `if=pflash,format=raw,unit=0,readonly=on,file=${pair[0]}`, "-drive", `if=pflash,format=raw,unit=1,file=${varsCopy}`);
  }
  for (const d of manifest.disks) args.push("-drive", `file=${imagePath(store, manifest.name, d.file)},if=virtio,format=${d.format},snapshot=on`);
  args.push("-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0", "-vga", "none");
  return args;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * Boots the image and reads its serial console. Software emulation on a busy
 * host now and then wedges a guest early in boot (soft lockups in the guest
 * kernel that never clear); such a boot says nothing about the image, so it is
 * tried once more on one virtual CPU before the image is called unbootable.
 */
export async function verifyImage(store: string, name: string, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const first = await bootOnce(store, name, opts, 2);
  if (first.booted || !first.reason || !/hung|no multi-user after/.test(first.reason)) return first;
  (opts.log ?? silentLogger).warn("the emulated guest hung; booting the image once more", { image: name, reason: first.reason });
  const second = await bootOnce(store, name, opts, 1);
  return second.booted ? second : { ...second, reason: `${second.reason ?? "failed"} (also on the first boot: ${first.reason})` };
}

async function bootOnce(store: string, name: string, opts: VerifyOptions, cpus: number): Promise<VerifyResult> {
  const log = opts.log ?? silentLogger;
  const manifest = readManifest(store, name);
  const timeoutMs = (opts.timeoutSeconds ?? 600) * 1000;
  const consoleLogPath = imagePath(store, name, "verify-console.log");
  rmSync(consoleLogPath, { force: true });
  const work = mkdtempSync(join(tmpdir(), "hoist-verify-"));
  let varsCopy: string | null = null;
  if (manifest.bootMode === "uefi") {
    const pair = OVMF_PAIRS.find(([code]) => existsSync(code));
    // Each boot gets its own copy of the UEFI variable store: the firmware writes to it.
    if (pair) {
      varsCopy = join(work, "OVMF_VARS.fd");
      copyFileSync(pair[1], varsCopy);
    }
  }
  const args = qemuArgs(manifest, store, consoleLogPath, varsCopy, opts.memoryMiB ?? 1024, cpus);
  log.info("booting image", { image: name, bootMode: manifest.bootMode, accel: args.includes("kvm") ? "kvm" : "tcg" });
  const started = Date.now();
  const stderr: Buffer[] = [];
  const child = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.on("data", (b: Buffer) => stderr.push(b));
  const spawnError = new Promise<Error>((r) => child.once("error", r));
  let reading: ConsoleReading = readConsole("");
  let text = "";
  let reason: string | null = null;
  let loginSince: number | null = null;
  try {
    for (;;) {
      const tick = await Promise.race([new Promise<null>((r) => setTimeout(() => r(null), 1000)), spawnError]);
      if (tick instanceof Error) throw new HoistError("Verify.QemuMissing", `QEMU could not start: ${tick.message}`, { fix: "Install qemu-system-x86." });
      text = existsSync(consoleLogPath) ? readFileSync(consoleLogPath, "utf8") : "";
      reading = readConsole(text);
      if (reading.verifyLine) break;
      if (reading.failure && /emergency|maintenance|panic|ALERT|no such device|not found/i.test(reading.failure)) {
        reason = reading.failure;
        break;
      }
      const lockup = /soft lockup - CPU#\d+ stuck for (\d+)s/g;
      let stuck = 0;
      for (let m = lockup.exec(text); m; m = lockup.exec(text)) stuck = Math.max(stuck, Number(m[1]));
      if (stuck >= 120 && !reading.reachedMultiUser) {
        reason = `the guest hung (a CPU stuck for ${stuck} s under emulation)`;
        break;
      }
      if (reading.loginPrompt && loginSince === null) loginSince = Date.now();
      // A system without the report unit still shows a login prompt; give it time to finish starting units
      // (under TCG on a busy host the report can come minutes after the prompt).
      if (loginSince !== null && Date.now() - loginSince > 240_000) break;
      if (child.exitCode !== null) {
        reason = `QEMU exited with ${child.exitCode}: ${Buffer.concat(stderr).toString("utf8").trim().slice(-300)}`;
        break;
      }
      if (Date.now() - started > timeoutMs) {
        reason = `no multi-user system after ${Math.round(timeoutMs / 1000)} s`;
        break;
      }
    }
  } finally {
    await stop(child);
    rmSync(work, { recursive: true, force: true });
  }
  const bootSeconds = Math.round((Date.now() - started) / 100) / 10;
  const expected = manifest.mounts.map((m) => m.mountPoint);
  const missing = missingMounts(reading, text, expected);
  const booted = reason === null && (reading.reachedMultiUser || reading.loginPrompt);
  const mountedAll = booted && missing.length === 0;
  if (booted && !mountedAll) reason = `not mounted: ${missing.join(", ")}`;
  writeManifest(store, {
    ...manifest,
    verification: {
      // "booted" means what a user needs: multi-user reached and every filesystem of fstab mounted.
      status: mountedAll ? "booted" : "failed",
      bootSeconds,
      consoleLog: "verify-console.log",
      reachedMultiUser: reading.reachedMultiUser,
      mountedAll,
      verifiedAt: new Date().toISOString(),
      ...(reason ? { reason } : {}),
    },
  });
  log.info("boot finished", { image: name, booted, bootSeconds, mountedAll });
  return { booted, bootSeconds, reachedMultiUser: reading.reachedMultiUser, mountedAll, missingMounts: missing, reason, consoleLogPath };
}

// Fair targets for the peers: a fresh ext4 filesystem on a loop-mounted
// sparse file of the same size as hoist's target disk. Plus the sweep that
// takes down whatever a hoist run left under its own HOIST_HOME (mounts, loop
// devices, the receiver), so a benchmark ends with nothing attached.
import { mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Cleanup, capture, sleep } from "./proc";

export interface ScratchFs {
  image: string;
  device: string;
  mountPoint: string;
}

/** A sparse file of `sizeBytes` with a fresh ext4 on its own loop device, mounted; undone by `cleanup`. */
export async function makeScratchFs(dir: string, sizeBytes: number, cleanup: Cleanup): Promise<ScratchFs> {
  mkdirSync(dir, { recursive: true });
  const image = join(dir, "target.raw");
  const mountPoint = join(dir, "mnt");
  mkdirSync(mountPoint, { recursive: true });
  writeFileSync(image, "");
  truncateSync(image, sizeBytes);
  cleanup.add(`remove ${image}`, () => rmSync(image, { force: true }));
  const device = (await capture("losetup", ["--find", "--show", image])).trim();
  cleanup.add(`detach ${device}`, () => detachLoop(device));
  // Same mkfs.ext4 defaults as hoist's target disks.
  await capture("mkfs.ext4", ["-F", "-q", device]);
  await capture("mount", [device, mountPoint]);
  cleanup.add(`unmount ${mountPoint}`, () => unmountRetrying(mountPoint));
  return { image, device, mountPoint };
}

export async function unmountRetrying(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    if (!mountedAt(dir)) return;
    try {
      await capture("umount", [dir]);
      return;
    } catch (e) {
      if (attempt >= 10) throw e;
      await sleep(500);
    }
  }
}

export async function detachLoop(device: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await capture("losetup", ["-d", device]);
      return;
    } catch (e) {
      if (attempt >= 10) throw e;
      await sleep(500);
    }
  }
}

/** /proc/mounts escapes spaces and the like as octal. */
function unescapeMount(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

function mountsUnder(prefix: string): string[] {
  const lines = readFileSync("/proc/mounts", "utf8").split("\n");
  const found = lines.map((l) => unescapeMount(l.split(" ")[1] ?? "")).filter((m) => m === prefix || m.startsWith(`${prefix}/`));
  // Deepest first, so nested mounts (a chroot's /proc, a data disk) go before their parents.
  return found.sort((a, b) => b.length - a.length);
}

function mountedAt(dir: string): boolean {
  return mountsUnder(dir).includes(dir);
}

/** Loop devices whose backing file lives under `prefix`: only ones this benchmark's hoist run created. */
async function loopsUnder(prefix: string): Promise<string[]> {
  const text = await capture("losetup", ["--list", "--json", "--output", "NAME,BACK-FILE"]).catch(() => "");
  if (!text.trim()) return [];
  const parsed = JSON.parse(text) as { loopdevices?: { name: string; "back-file": string | null }[] };
  return (parsed.loopdevices ?? []).filter((d) => (d["back-file"] ?? "").replace(/ \(deleted\)$/, "").startsWith(`${prefix}/`)).map((d) => d.name);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops every local receiver recorded under a hoist home and takes down the
 * mounts and loop devices backed by files there. Used after --copy-only runs
 * (the intermediate instance stays up by design) and after failures.
 */
export async function sweepHoistHome(home: string): Promise<number[]> {
  const stopped: number[] = [];
  for (const pid of receiversOf(home)) {
    process.kill(pid, "SIGTERM");
    for (let i = 0; i < 50 && pidAlive(pid); i++) await sleep(100);
    if (pidAlive(pid)) process.kill(pid, "SIGKILL");
    stopped.push(pid);
  }
  for (const m of mountsUnder(home)) await unmountRetrying(m);
  for (const d of await loopsUnder(home)) await detachLoop(d);
  return stopped;
}

/**
 * Receiver processes whose state folder is under `home`, found by command
 * line: a released instance's folder (and its receiver.json) may be gone
 * while its process still runs.
 */
export function receiversOf(home: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    const at = argv.indexOf("--state-dir");
    const stateDir = at >= 0 ? (argv[at + 1] ?? "") : "";
    if (argv.includes("receiver") && stateDir.startsWith(`${home}/`)) pids.push(Number(entry));
  }
  return pids;
}

// How a block copy gets a consistent picture of a partition that is in use:
// an LVM snapshot when the partition is a logical volume whose volume group
// has room for one, otherwise live passes and a last pass under fsfreeze.
// A frozen filesystem stops every writer on the machine, so the freeze is
// bounded twice: the copy gives up past its deadline, and a watchdog process
// thaws the filesystem when the deadline passes or when the agent dies
// (its stdin closes), whichever comes first.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { HoistError } from "@hoist/protocol";
import { type Logger, run } from "@hoist/runtime";

export interface MountInfo {
  target: string;
  readOnly: boolean;
}

/** Where the source device is mounted (first mount), or null. */
export async function mountOf(device: string): Promise<MountInfo | null> {
  const r = await run("findmnt", ["-n", "-r", "-o", "TARGET,OPTIONS", "--source", device], { okExitCodes: [0, 1] });
  const line = r.stdout.split("\n").find((l) => l.trim());
  if (!line) return null;
  const [target, options] = line.split(" ");
  // findmnt -r escapes spaces and the like as \x20.
  const decoded = (target ?? "").replace(/\\x([0-9a-f]{2})/gi, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  return { target: decoded, readOnly: (options ?? "").split(",").includes("ro") };
}

/** Drops the block device's cached pages so a later read sees what the filesystem wrote since. */
export async function dropDeviceCache(device: string): Promise<void> {
  await run("blockdev", ["--flushbufs", device], { okExitCodes: [0, 1] });
}

// The watchdog reads its stdin: "done" means the agent thawed; EOF without it (the agent died) or the
// deadline thaws the filesystem. It detaches from the agent's process group so a kill of the group spares it.
const WATCHDOG = `
const { spawnSync } = require("node:child_process");
const [mount, ms] = [process.argv[1], Number(process.argv[2])];
let said = "";
let over = false;
const thaw = () => { if (over) return; over = true; spawnSync("fsfreeze", ["-u", mount]); process.exit(0); };
setTimeout(thaw, ms);
process.stdin.on("data", (c) => { said += c; if (said.includes("done")) { over = true; process.exit(0); } });
process.stdin.on("end", thaw);
process.stdin.on("error", thaw);
`;

export interface Freeze {
  /** Epoch ms when the watchdog thaws on its own. */
  deadline: number;
  thaw(): Promise<void>;
}

/** Freezes the filesystem mounted at `mount` for at most `timeoutMs`. */
export async function freezeFilesystem(mount: string, timeoutMs: number, log: Logger): Promise<Freeze> {
  const watchdog: ChildProcess = spawn(process.execPath, ["-e", WATCHDOG, mount, String(timeoutMs + 2000)], { detached: true, stdio: ["pipe", "ignore", "ignore"] });
  watchdog.unref();
  await new Promise<void>((resolve, reject) => {
    watchdog.once("spawn", () => resolve());
    watchdog.once("error", (e) => reject(new HoistError("Block.FreezeFailed", `could not start the thaw watchdog: ${e.message}`)));
  });
  try {
    await run("fsfreeze", ["-f", mount], { code: "Block.FreezeFailed", timeoutMs: 60_000 });
  } catch (e) {
    watchdog.stdin?.end("done\n");
    throw new HoistError("Block.FreezeFailed", `could not freeze ${mount}: ${e instanceof Error ? e.message : String(e)}`, {
      fix: "Make sure the filesystem supports fsfreeze (ext4, xfs) and is not frozen already; or copy from an LVM snapshot.",
      cause: e,
    });
  }
  const deadline = Date.now() + timeoutMs;
  log.info("filesystem frozen for the last pass", { mount, timeoutMs });
  let thawed = false;
  return {
    deadline,
    async thaw() {
      if (thawed) return;
      thawed = true;
      try {
        await run("fsfreeze", ["-u", mount], { okExitCodes: [0, 1], timeoutMs: 30_000 });
      } finally {
        watchdog.stdin?.end("done\n");
      }
      log.info("filesystem thawed", { mount });
    },
  };
}

export interface LogicalVolume {
  vg: string;
  lv: string;
  sizeBytes: number;
  vgFreeBytes: number;
}

/** The LV behind a device path, with its VG's free space, or null when it is not an LV. */
export async function logicalVolumeOf(device: string): Promise<LogicalVolume | null> {
  const r = await run("lvs", ["--noheadings", "--nosuffix", "--units", "b", "--separator", "|", "-o", "vg_name,lv_name,lv_size,vg_free", device], { okExitCodes: [0, 5] }).catch(() => null);
  const line = r?.exitCode === 0 ? r.stdout.split("\n").find((l) => l.trim()) : undefined;
  if (!line) return null;
  const [vg, lv, size, free] = line.trim().split("|");
  if (!vg || !lv) return null;
  return { vg, lv, sizeBytes: Number(size), vgFreeBytes: Number(free) };
}

export const SNAPSHOT_PREFIX = "hoist-snap-";
const MiB = 1024 * 1024;

/** Copy-on-write room a snapshot gets: a tenth of the LV, at least 64 MiB, at most what the VG has free. */
export function snapshotBytes(lv: LogicalVolume): number {
  return Math.min(lv.vgFreeBytes, Math.max(64 * MiB, Math.ceil(lv.sizeBytes / 10)));
}

export interface Snapshot {
  device: string;
  remove(): Promise<void>;
}

/** Removes snapshots of this LV that an earlier, killed run left behind. */
export async function removeLeftoverSnapshots(lv: LogicalVolume, log: Logger): Promise<void> {
  const r = await run("lvs", ["--noheadings", "--separator", "|", "-o", "lv_name,origin", lv.vg], { okExitCodes: [0, 5] });
  for (const line of r.stdout.split("\n")) {
    const [name, origin] = line.trim().split("|");
    if (name?.startsWith(SNAPSHOT_PREFIX) && origin === lv.lv) {
      await run("lvremove", ["-f", `${lv.vg}/${name}`], { okExitCodes: [0, 5] });
      log.warn("removed a snapshot left by an earlier run", { lv: `${lv.vg}/${name}` });
    }
  }
}

/** Takes a snapshot (LVM freezes the mounted filesystem for the instant it takes). */
export async function createSnapshot(lv: LogicalVolume, log: Logger): Promise<Snapshot> {
  await removeLeftoverSnapshots(lv, log);
  const name = `${SNAPSHOT_PREFIX}${randomBytes(4).toString("hex")}`;
  const bytes = snapshotBytes(lv);
  await run("lvcreate", ["--quiet", "--snapshot", "--name", name, "--size", `${bytes}b`, `${lv.vg}/${lv.lv}`], { code: "Block.SnapshotFailed" });
  log.info("copying from an LVM snapshot", { lv: `${lv.vg}/${lv.lv}`, snapshot: name, cowBytes: bytes });
  return {
    device: `/dev/${lv.vg}/${name}`,
    async remove() {
      await run("lvremove", ["-f", `${lv.vg}/${name}`], { okExitCodes: [0, 5] });
    },
  };
}

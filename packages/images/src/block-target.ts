// What the receiver does to a block-replicated partition once every chunk is
// verified: check the filesystem the copy carries (replaying its journal or
// log if the source was copied live) and grow it to fill a larger target
// partition. A block copy keeps the source's filesystem UUID, so an XFS copy
// is mounted with nouuid in case the source is mounted on the same host.
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { HoistError } from "@hoist/protocol";
import { type Logger, run } from "@hoist/runtime";
import { mountDevice, unmount } from "./loop";

async function ext4Bytes(device: string): Promise<number> {
  const r = await run("dumpe2fs", ["-h", device], { code: "Block.TargetCheckFailed" });
  const count = /^Block count:\s+(\d+)/m.exec(r.stdout)?.[1];
  const size = /^Block size:\s+(\d+)/m.exec(r.stdout)?.[1];
  return Number(count) * Number(size);
}

async function xfsBytes(device: string): Promise<number> {
  const r = await run("xfs_db", ["-r", "-c", "sb 0", "-c", "p blocksize", "-c", "p dblocks", device], { code: "Block.TargetCheckFailed" });
  const bs = /^blocksize = (\d+)/m.exec(r.stdout)?.[1];
  const blocks = /^dblocks = (\d+)/m.exec(r.stdout)?.[1];
  return Number(bs) * Number(blocks);
}

/** Mount options for a block-replicated partition of this filesystem. */
export function blockMountOptions(fs: string): string[] {
  return fs === "xfs" ? ["nouuid"] : [];
}

export async function checkAndGrow(device: string, fs: string, grow: boolean, scratchDir: string, log: Logger): Promise<{ check: string; grown: boolean }> {
  if (fs === "ext4" || fs === "ext3" || fs === "ext2") {
    const r = await run("e2fsck", ["-f", "-y", device], { okExitCodes: [0, 1, 2, 4, 8, 12], timeoutMs: 60 * 60_000 });
    if (r.exitCode >= 4) {
      throw new HoistError("Block.TargetCheckFailed", `e2fsck found errors it could not fix on the copied ${fs} filesystem (exit ${r.exitCode})`, {
        fix: "Run the transfer again; if the source itself has errors, repair it (e2fsck) before migrating.",
        details: { output: r.stdout.slice(-2000) },
      });
    }
    const check = r.exitCode === 0 ? "clean" : "repaired";
    if (!grow) return { check, grown: false };
    const before = await ext4Bytes(device);
    await run("resize2fs", [device], { code: "Block.GrowFailed", timeoutMs: 60 * 60_000 });
    const after = await ext4Bytes(device);
    if (after > before) log.info("grew the copied filesystem", { fs, fromBytes: before, toBytes: after });
    return { check, grown: after > before };
  }
  if (fs === "xfs") {
    const dir = mkdtempSync(join(scratchDir, "xfs-"));
    try {
      // Mounting replays the log of a copy taken while the source was live; the check needs a clean log.
      await mountDevice(device, dir, blockMountOptions(fs));
      await unmount(dir);
      const r = await run("xfs_repair", ["-n", device], { okExitCodes: [0, 1], timeoutMs: 60 * 60_000 });
      if (r.exitCode !== 0) {
        throw new HoistError("Block.TargetCheckFailed", "xfs_repair -n found problems in the copied xfs filesystem", {
          fix: "Run the transfer again; if the source itself has errors, repair it (xfs_repair) before migrating.",
          details: { output: `${r.stdout}${r.stderr}`.slice(-2000) },
        });
      }
      if (!grow) return { check: "clean", grown: false };
      const before = await xfsBytes(device);
      await mountDevice(device, dir, blockMountOptions(fs));
      try {
        await run("xfs_growfs", [dir], { code: "Block.GrowFailed" });
      } finally {
        await unmount(dir);
      }
      const after = await xfsBytes(device);
      if (after > before) log.info("grew the copied filesystem", { fs, fromBytes: before, toBytes: after });
      return { check: "clean", grown: after > before };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { check: "not checked", grown: false };
}

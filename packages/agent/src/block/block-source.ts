// Which partition a mount point of the source lives on, for block mode: the
// device mounted exactly there, its filesystem, UUID and size.
import { HoistError } from "@hoist/protocol";
import { run } from "@hoist/runtime";
import { detectFsUuid, sourceSize } from "./allocation";

export interface BlockSource {
  /** The mount point as the migrated system sees it ("/", "/mnt/disk1"). */
  mountPoint: string;
  device: string;
  fs: string;
  uuid: string;
  sourceBytes: number;
}

/** `path` is where that mount point is on this machine (under --source-root when one is given). */
export async function describeBlockSource(mountPoint: string, path: string): Promise<BlockSource> {
  const r = await run("findmnt", ["-n", "-r", "-o", "SOURCE,FSTYPE", "--mountpoint", path], { okExitCodes: [0, 1] });
  const [device, fs] = (r.stdout.split("\n")[0] ?? "").split(" ");
  if (r.exitCode !== 0 || !device?.startsWith("/dev/") || !fs) {
    throw new HoistError("Config.BlockNotAPartition", `${mountPoint} (${path}) is not a mounted partition of its own, so it cannot be copied by block`, {
      fix: `Copy ${mountPoint} by file (leave it out of block_replication / --block-partitions), or give it its own partition.`,
    });
  }
  const uuid = await detectFsUuid(device);
  if (!uuid) throw new HoistError("Config.BlockNotAPartition", `${device} (${mountPoint}) has no filesystem UUID`, { fix: `Copy ${mountPoint} by file.` });
  return { mountPoint, device, fs, uuid, sourceBytes: await sourceSize(device) };
}

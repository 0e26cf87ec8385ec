// The target layout: which disks the intermediate instance creates, how each
// is partitioned and formatted, and which source tree lands on which
// partition. Made by the planner (images) from the inventory and the user's
// settings; prepared, filled and converted by the receiver.
import { z } from "zod";

export const FsTypeSchema = z.enum(["ext4", "xfs", "vfat"]);
export type FsType = z.infer<typeof FsTypeSchema>;

export const PartitionRoleSchema = z.enum(["root", "boot", "efi", "data"]);

export const TargetPartitionSchema = z.object({
  /** Stable key, e.g. "system-p1". */
  key: z.string().regex(/^[a-z0-9-]{1,40}$/),
  role: PartitionRoleSchema,
  /** Where it is mounted in the migrated system ("/", "/boot", "/boot/efi", "/mnt/disk1"). */
  mountPoint: z.string().startsWith("/"),
  fs: FsTypeSchema,
  /** Size in MiB; null takes the rest of the disk (only the last partition). */
  sizeMiB: z.number().int().positive().nullable(),
  /** Filesystem UUID chosen at plan time (new, never the source's; a block partition keeps the source's). */
  uuid: z.string().optional(),
  /**
   * "block": the partition is copied as an image of the source partition (its filesystem, UUID and
   * layout kept, grown to fill the target); otherwise ("file", the default) formatted and filled by rsync.
   */
  replication: z.enum(["file", "block"]).optional(),
  /** Bytes of the source partition a block partition is copied from; the target partition is at least this large. */
  sourceBytes: z.number().int().positive().optional(),
});
export type TargetPartition = z.infer<typeof TargetPartitionSchema>;

export const DiskKeySchema = z.string().regex(/^(system|disk([1-9]|1[0-6]))$/);

export const TargetDiskSchema = z.object({
  /** "system" or "diskN" (N = data_disk_index, 1–16). */
  key: DiskKeySchema,
  sizeGiB: z.number().int().min(1).max(32768),
  table: z.enum(["mbr", "gpt"]),
  partitions: z.array(TargetPartitionSchema).min(1),
  /** The source directory copied onto this disk ("/" for the system disk, src_path for data disks). */
  sourcePath: z.string().startsWith("/"),
  /** Bytes used by the source tree that lands on this disk. */
  usedBytes: z.number().int().nonnegative(),
});
export type TargetDisk = z.infer<typeof TargetDiskSchema>;

export const TargetPlanSchema = z.object({
  bootMode: z.enum(["bios", "uefi"]),
  lvm: z.boolean(),
  disks: z.array(TargetDiskSchema).min(1).max(17),
});
export type TargetPlan = z.infer<typeof TargetPlanSchema>;

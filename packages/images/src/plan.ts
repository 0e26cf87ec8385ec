// The planner: from what the source has (inventory) and what the user asked
// for (settings) to the target disk layout. Rules follow the cloud's limits:
// system disk 20–2048 GiB and able to hold the used space, up to 16 data
// disks of 1–32768 GiB, LVM only with a separate /boot (and only where the
// migrated system can activate it; otherwise plain partitions).
import { randomBytes, randomUUID } from "node:crypto";
import { type BootMode, HoistError, type SourceInventory, type TargetDisk, type TargetPartition, type TargetPlan, TargetPlanSchema } from "@hoist/protocol";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

export const SYSTEM_DISK_MIN_GIB = 20;
export const SYSTEM_DISK_MAX_GIB = 2048;
export const DATA_DISK_MIN_GIB = 1;
export const DATA_DISK_MAX_GIB = 32768;
export const MAX_DATA_DISKS = 16;
export const ESP_MIB = 256;
export const BOOT_MIB = 1024;

export interface DataDiskSetting {
  /** data_disk_index, 1–16. */
  index: number;
  sizeGiB: number;
  /** The source folder copied onto the disk; also its mount point in the migrated system. */
  srcPath: string;
  /** Used bytes of srcPath when the inventory does not list it. */
  usedBytes?: number;
}

/** A source partition copied by block: its target partition keeps its filesystem and UUID and is at least as large. */
export interface BlockPartitionSetting {
  /** "/" or a data disk's srcPath. */
  mountPoint: string;
  sourceBytes: number;
  fs: string;
  uuid: string;
}

export interface PlanSettings {
  /** Defaults to the inventory's boot mode. */
  bootMode?: BootMode;
  /** Defaults to the source system disk size, kept within 20–2048 GiB. */
  systemDiskGiB?: number;
  dataDisks?: DataDiskSetting[];
  fs?: "ext4" | "xfs";
  /** A separate /boot partition on the system disk. */
  separateBoot?: boolean;
  /** Rebuild each disk as one PV, VG vgX and one LV per mount point. */
  lvm?: boolean;
  /** Partitions copied by block instead of by file. */
  blockPartitions?: BlockPartitionSetting[];
}

const BLOCK_FS = new Set(["ext4", "xfs", "vfat"]);

function checkBlockSetting(b: BlockPartitionSetting): TargetPartition["fs"] {
  if (!BLOCK_FS.has(b.fs)) {
    throw new HoistError("Plan.BlockUnsupportedFs", `${b.mountPoint} is ${b.fs}; block replication copies ext4, xfs and vfat partitions.`, {
      fix: `Copy ${b.mountPoint} by file (leave it out of block_replication / --block-partitions).`,
    });
  }
  return b.fs as TargetPartition["fs"];
}

function blockTooSmall(what: string, b: BlockPartitionSetting, roomBytes: number, fix: string): HoistError {
  return new HoistError("Plan.BlockPartitionTooSmall", `${what} leaves ${fmtGiB(roomBytes)} for ${b.mountPoint}, but a block-replicated partition cannot shrink and the source partition is ${fmtGiB(b.sourceBytes)}.`, {
    fix,
    details: { mountPoint: b.mountPoint, sourceBytes: b.sourceBytes, roomBytes },
  });
}

/** Space a tree of `usedBytes` needs on a fresh filesystem: the data plus room for metadata and growth. */
export function requiredBytes(usedBytes: number, headroomBytes: number): number {
  return Math.ceil(usedBytes * 1.1) + headroomBytes;
}

const fmtGiB = (bytes: number): string => `${(bytes / GiB).toFixed(2)} GiB`;

/** A random FAT volume id in blkid's spelling (XXXX-XXXX). */
export function newVfatId(): string {
  const hex = randomBytes(4).toString("hex").toUpperCase();
  return `${hex.slice(0, 4)}-${hex.slice(4)}`;
}

/**
 * Why an LVM re-layout that was asked for would not boot, or null when it can be used. As the seed says, it
 * then does not take effect: the disks get plain partitions instead.
 */
export function lvmFallbackReason(inventory: SourceInventory, settings: PlanSettings = {}): string | null {
  if (!inventory.lvm) return "the source has no lvm2 (no /etc/lvm/lvm.conf), so the migrated system could not activate its volume groups";
  const oldKernels = inventory.kernels.length > 0 && inventory.kernels.every((k) => Number.parseInt(k.version, 10) <= 3);
  const xfs = (settings.fs ?? "ext4") === "xfs" || inventory.mounts.some((m) => m.fs === "xfs");
  if (inventory.os.id === "debian" && oldKernels && xfs) return "Debian with a 3.x or older kernel cannot boot XFS on LVM";
  return null;
}

export function makePlan(inventory: SourceInventory, settings: PlanSettings = {}): TargetPlan {
  const bootMode = settings.bootMode ?? inventory.bootMode;
  const fs = settings.fs ?? "ext4";
  const separateBoot = settings.separateBoot ?? false;

  if (settings.lvm && !separateBoot) {
    throw new HoistError("Plan.LvmNeedsBootPartition", "LVM re-layout needs a separate /boot partition on the system disk, and this plan has none.", {
      fix: "Enable a separate /boot partition (--separate-boot), or turn LVM off.",
    });
  }
  const lvm = (settings.lvm ?? false) && lvmFallbackReason(inventory, settings) === null;
  const blocks = settings.blockPartitions ?? [];
  const dataPaths = new Set((settings.dataDisks ?? []).map((d) => d.srcPath));
  for (const b of blocks) {
    if (b.mountPoint !== "/" && !dataPaths.has(b.mountPoint)) {
      throw new HoistError("Plan.InvalidBlockPartition", `${b.mountPoint} is neither / nor the source path of a data disk, so it has no target partition to copy blocks into.`, {
        fix: "List / or a data disk's src_path in block_replication (--block-partitions).",
      });
    }
    checkBlockSetting(b);
  }
  if (blocks.length > 0 && settings.lvm) {
    throw new HoistError("Plan.BlockWithLvm", "Block replication keeps each partition as it is, so it cannot be combined with the LVM re-layout.", {
      fix: "Turn LVM re-layout off, or copy every partition by file.",
    });
  }
  const rootBlock = blocks.find((b) => b.mountPoint === "/");

  const sourceGiB = Math.ceil(inventory.systemDiskBytes / GiB);
  const systemGiB = settings.systemDiskGiB ?? Math.min(SYSTEM_DISK_MAX_GIB, Math.max(SYSTEM_DISK_MIN_GIB, sourceGiB));
  if (!Number.isInteger(systemGiB) || systemGiB < SYSTEM_DISK_MIN_GIB || systemGiB > SYSTEM_DISK_MAX_GIB) {
    throw new HoistError("Plan.InvalidSystemDiskSize", `The system disk size ${systemGiB} GiB is outside ${SYSTEM_DISK_MIN_GIB}–${SYSTEM_DISK_MAX_GIB} GiB.`, {
      fix: `Choose a whole number of GiB from ${SYSTEM_DISK_MIN_GIB} to ${SYSTEM_DISK_MAX_GIB}.`,
    });
  }
  const reservedMiB = (bootMode === "uefi" ? ESP_MIB : 0) + (separateBoot ? BOOT_MIB : 0) + 2;
  const systemRoom = systemGiB * GiB - reservedMiB * MiB;
  const systemNeed = requiredBytes(inventory.usedBytes, GiB);
  if (rootBlock) {
    if (bootMode === "uefi" || separateBoot) {
      throw new HoistError("Plan.BlockRootWithOtherPartitions", "Block replication of / is supported only when / is the system disk's one partition (BIOS boot, no separate /boot).", {
        fix: "Copy / by file, or migrate with BIOS boot and without --separate-boot.",
      });
    }
    if (rootBlock.sourceBytes > systemRoom) {
      throw blockTooSmall(`A ${systemGiB} GiB system disk`, rootBlock, systemRoom, `Set the system disk size to at least ${Math.ceil((rootBlock.sourceBytes + reservedMiB * MiB) / GiB)} GiB.`);
    }
  } else if (systemNeed > systemRoom) {
    throw new HoistError(
      "Plan.SystemDiskTooSmall",
      `A ${systemGiB} GiB system disk leaves ${fmtGiB(systemRoom)} for the root filesystem, but the source uses ${fmtGiB(inventory.usedBytes)} and needs ${fmtGiB(systemNeed)} with headroom (10% + 1 GiB).`,
      { fix: `Set the system disk size to at least ${Math.ceil((systemNeed + reservedMiB * MiB) / GiB)} GiB.`, details: { systemGiB, usedBytes: inventory.usedBytes, requiredBytes: systemNeed } },
    );
  }

  const systemPartitions: TargetPartition[] = [];
  const part = (role: TargetPartition["role"], mountPoint: string, pfs: TargetPartition["fs"], sizeMiB: number | null): void => {
    systemPartitions.push({ key: `system-p${systemPartitions.length + 1}`, role, mountPoint, fs: pfs, sizeMiB, uuid: pfs === "vfat" ? newVfatId() : randomUUID() });
  };
  if (bootMode === "uefi") part("efi", "/boot/efi", "vfat", ESP_MIB);
  if (separateBoot) part("boot", "/boot", fs, BOOT_MIB);
  part("root", "/", rootBlock ? checkBlockSetting(rootBlock) : fs, null);
  const root = systemPartitions[systemPartitions.length - 1];
  if (rootBlock && root) Object.assign(root, { uuid: rootBlock.uuid, replication: "block", sourceBytes: rootBlock.sourceBytes });

  const disks: TargetDisk[] = [
    { key: "system", sizeGiB: systemGiB, table: bootMode === "uefi" ? "gpt" : "mbr", partitions: systemPartitions, sourcePath: "/", usedBytes: inventory.usedBytes },
  ];

  const dataDisks = settings.dataDisks ?? [];
  if (dataDisks.length > MAX_DATA_DISKS) {
    throw new HoistError("Plan.TooManyDataDisks", `${dataDisks.length} data disks were requested; at most ${MAX_DATA_DISKS} are supported.`, {
      fix: `Merge source folders so that no more than ${MAX_DATA_DISKS} data disks are needed.`,
    });
  }
  const seen = new Set<number>();
  for (const d of [...dataDisks].sort((a, b) => a.index - b.index)) {
    if (!Number.isInteger(d.index) || d.index < 1 || d.index > MAX_DATA_DISKS) {
      throw new HoistError("Plan.InvalidDataDiskIndex", `Data disk index ${d.index} is outside 1–${MAX_DATA_DISKS}.`, { fix: `Number data disks from 1 to ${MAX_DATA_DISKS}.` });
    }
    if (seen.has(d.index)) {
      throw new HoistError("Plan.DuplicateDataDisk", `Data disk index ${d.index} is used twice.`, { fix: "Give every data disk its own index." });
    }
    seen.add(d.index);
    if (!Number.isInteger(d.sizeGiB) || d.sizeGiB < DATA_DISK_MIN_GIB || d.sizeGiB > DATA_DISK_MAX_GIB) {
      throw new HoistError("Plan.InvalidDataDiskSize", `Data disk ${d.index} size ${d.sizeGiB} GiB is outside ${DATA_DISK_MIN_GIB}–${DATA_DISK_MAX_GIB} GiB.`, {
        fix: `Choose a whole number of GiB from ${DATA_DISK_MIN_GIB} to ${DATA_DISK_MAX_GIB}.`,
      });
    }
    if (!d.srcPath.startsWith("/") || d.srcPath === "/") {
      throw new HoistError("Plan.InvalidDataDiskPath", `Data disk ${d.index} source path "${d.srcPath}" must be an absolute folder other than /.`, { fix: "Use a path such as /mnt/disk1." });
    }
    const used = inventory.paths.find((p) => p.path === d.srcPath)?.usedBytes ?? d.usedBytes ?? 0;
    const need = requiredBytes(used, 100 * MiB);
    const room = d.sizeGiB * GiB - 2 * MiB;
    const block = blocks.find((b) => b.mountPoint === d.srcPath);
    if (block) {
      if (block.sourceBytes > room) throw blockTooSmall(`Data disk ${d.index} (${d.sizeGiB} GiB)`, block, room, `Set data disk ${d.index} to at least ${Math.ceil((block.sourceBytes + 2 * MiB) / GiB)} GiB.`);
    } else if (need > room) {
      throw new HoistError(
        "Plan.DataDiskTooSmall",
        `Data disk ${d.index} (${d.srcPath}) is ${d.sizeGiB} GiB, but the source uses ${fmtGiB(used)} and needs ${fmtGiB(need)} with headroom (10% + 100 MiB).`,
        { fix: `Set data disk ${d.index} to at least ${Math.ceil((need + 2 * MiB) / GiB)} GiB.`, details: { index: d.index, sizeGiB: d.sizeGiB, usedBytes: used, requiredBytes: need } },
      );
    }
    disks.push({
      key: `disk${d.index}`,
      sizeGiB: d.sizeGiB,
      table: bootMode === "uefi" ? "gpt" : "mbr",
      partitions: [
        block
          ? { key: `disk${d.index}-p1`, role: "data", mountPoint: d.srcPath, fs: checkBlockSetting(block), sizeMiB: null, uuid: block.uuid, replication: "block", sourceBytes: block.sourceBytes }
          : { key: `disk${d.index}-p1`, role: "data", mountPoint: d.srcPath, fs, sizeMiB: null, uuid: randomUUID() },
      ],
      sourcePath: d.srcPath,
      usedBytes: used,
    });
  }
  return TargetPlanSchema.parse({ bootMode, lvm, disks });
}

// The receiver owns the target disks of each job through this interface; the
// disk-image implementation lives in this package (raw files, loop devices,
// real filesystems). The receiver never touches disks any other way.
import type { TargetPlan } from "@hoist/protocol";
import type { Logger } from "@hoist/runtime";

export interface PreparedDisk {
  /** "system" or "diskN". */
  key: string;
  /** The sparse raw disk file on the intermediate instance. */
  rawPath: string;
  sizeBytes: number;
  /** Where the disk's filesystems are mounted (the root partition, with /boot etc. mounted inside for the system disk). */
  mountPath: string;
}

export interface JobTargets {
  /** A folder private to the job on the intermediate instance. */
  jobDir: string;
  plan: TargetPlan;
}

/** A block-replicated target partition, opened for writing: nothing of its disk is mounted meanwhile. */
export interface BlockTarget {
  /** The device (or file) the chunks are written into, byte 0 = the partition's first byte. */
  device: string;
  /** Size of the target partition; nothing is ever written at or past it. */
  sizeBytes: number;
  fs: string;
}

export interface BlockFinishResult {
  /** "clean", "repaired" or "not checked". */
  check: string;
  grown: boolean;
  targetBytes: number;
  mounted: boolean;
}

export interface TargetBackend {
  /** Creates the job's disks (or re-attaches them after a restart) and mounts them. Idempotent. */
  prepare(job: JobTargets, log: Logger): Promise<PreparedDisk[]>;
  /** Makes the copied system bootable (fstab, bootloader, initramfs, network, console). Disks must be prepared. */
  convert(job: JobTargets, inventory: unknown, log: Logger): Promise<unknown>;
  /** Unmounts everything and frees loop devices; the raw files stay. */
  detach(job: JobTargets, log: Logger): Promise<PreparedDisk[]>;
  /** Detaches and deletes the job's disks. */
  release(job: JobTargets, log: Logger): Promise<void>;
  /** Block mode: unmounts the partition's disk and hands out the partition to write into. Absent when the backend has no partitions. */
  openBlockTarget?(job: JobTargets, partitionKey: string, log: Logger): Promise<BlockTarget>;
  /** Block mode: checks the copied filesystem, grows it to the partition when asked, and mounts the disk again. */
  finishBlockTarget?(job: JobTargets, partitionKey: string, options: { grow: boolean }, log: Logger): Promise<BlockFinishResult>;
}

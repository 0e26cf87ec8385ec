// What the agent (or a test, from a folder) knows about a source server
// before anything is copied: disks, mounts, used space, OS, kernels and
// whether their initramfs can boot on virtio, bootloader and boot mode. One
// JSON document that the planner turns into a TargetPlan; it never holds
// secrets.
import { z } from "zod";

export const BootModeSchema = z.enum(["bios", "uefi"]);
export type BootMode = z.infer<typeof BootModeSchema>;

export const SourcePartitionSchema = z.object({
  name: z.string(),
  path: z.string(),
  sizeBytes: z.number().int().nonnegative(),
  fs: z.string().nullable(),
  uuid: z.string().nullable(),
  mountPoint: z.string().nullable(),
});

export const SourceDiskSchema = z.object({
  name: z.string(),
  path: z.string(),
  sizeBytes: z.number().int().nonnegative(),
  table: z.enum(["mbr", "gpt", "none"]),
  partitions: z.array(SourcePartitionSchema),
});
export type SourceDisk = z.infer<typeof SourceDiskSchema>;

export const SourceMountSchema = z.object({
  mountPoint: z.string().startsWith("/"),
  device: z.string(),
  fs: z.string(),
  sizeBytes: z.number().int().nonnegative(),
  usedBytes: z.number().int().nonnegative(),
});
export type SourceMount = z.infer<typeof SourceMountSchema>;

export const VirtioDriversSchema = z.object({
  virtio_blk: z.boolean(),
  virtio_net: z.boolean(),
  virtio_scsi: z.boolean(),
});
export type VirtioDrivers = z.infer<typeof VirtioDriversSchema>;

export const SourceKernelSchema = z.object({
  version: z.string(),
  /** Path inside the source, e.g. /boot/vmlinuz-6.1.0-18-amd64. */
  image: z.string(),
  initramfs: z.string().nullable(),
  /** null when the initramfs could not be read. */
  virtio: VirtioDriversSchema.nullable(),
});
export type SourceKernel = z.infer<typeof SourceKernelSchema>;

export const SourceInventorySchema = z.object({
  /** "/" for the running machine, or the folder a tree was read from. */
  sourceRoot: z.string(),
  collectedAt: z.string(),
  hostname: z.string().nullable(),
  arch: z.string(),
  os: z.object({
    id: z.string(),
    versionId: z.string().nullable(),
    prettyName: z.string(),
    idLike: z.array(z.string()),
  }),
  bootMode: BootModeSchema,
  /** Whether the source can be booted by UEFI (has GRUB EFI or shim) and by BIOS (has GRUB for i386-pc). */
  canBoot: z.object({ bios: z.boolean(), uefi: z.boolean() }),
  bootloader: z.object({
    kind: z.enum(["grub2", "unknown"]),
    version: z.string().nullable(),
  }),
  kernels: z.array(SourceKernelSchema),
  /** Which network configuration system the source uses. */
  network: z.enum(["systemd-networkd", "ifupdown", "netplan", "NetworkManager", "unknown"]),
  disks: z.array(SourceDiskSchema),
  mounts: z.array(SourceMountSchema),
  /** Size of the source system disk (the disk holding "/"); for a tree, the size of the filesystem under it. */
  systemDiskBytes: z.number().int().nonnegative(),
  /** Bytes used by the system disk's tree ("/" and its same-disk mounts). */
  usedBytes: z.number().int().nonnegative(),
  /** Used bytes of extra source paths (data disk src_paths), measured on request. */
  paths: z.array(z.object({ path: z.string().startsWith("/"), usedBytes: z.number().int().nonnegative() })),
  lvm: z.boolean(),
  selinux: z.enum(["enforcing", "permissive", "disabled", "absent"]),
});
export type SourceInventory = z.infer<typeof SourceInventorySchema>;

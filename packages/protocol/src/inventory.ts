// What the agent (or a test, from a folder) knows about a source server
// before anything is copied: disks, mounts, used space, OS, kernels and
// whether their initramfs can boot on virtio, bootloader and boot mode. One
// JSON document that the planner turns into a TargetPlan; it never holds
// secrets.
import { z } from "zod";

// Bounds well past any real machine, so a report that breaks them is refused
// with the field named instead of filling the control plane's database.
const path = () => z.string().max(4096);
const word = () => z.string().max(256);
const bytes = () => z.number().int().nonnegative();

export const BootModeSchema = z.enum(["bios", "uefi"]);
export type BootMode = z.infer<typeof BootModeSchema>;

export const SourcePartitionSchema = z.object({
  name: word(),
  path: path(),
  sizeBytes: bytes(),
  fs: z.string().max(64).nullable(),
  uuid: z.string().max(64).nullable(),
  mountPoint: path().nullable(),
});

export const SourceDiskSchema = z.object({
  name: word(),
  path: path(),
  sizeBytes: bytes(),
  table: z.enum(["mbr", "gpt", "none"]),
  partitions: z.array(SourcePartitionSchema).max(1024),
});
export type SourceDisk = z.infer<typeof SourceDiskSchema>;

export const SourceMountSchema = z.object({
  mountPoint: path().startsWith("/"),
  device: path(),
  fs: z.string().max(64),
  sizeBytes: bytes(),
  usedBytes: bytes(),
});
export type SourceMount = z.infer<typeof SourceMountSchema>;

export const VirtioDriversSchema = z.object({
  virtio_blk: z.boolean(),
  virtio_net: z.boolean(),
  virtio_scsi: z.boolean(),
});
export type VirtioDrivers = z.infer<typeof VirtioDriversSchema>;

export const SourceKernelSchema = z.object({
  version: word(),
  /** Path inside the source, e.g. /boot/vmlinuz-6.1.0-18-amd64. */
  image: path(),
  initramfs: path().nullable(),
  /** null when the initramfs could not be read. */
  virtio: VirtioDriversSchema.nullable(),
});
export type SourceKernel = z.infer<typeof SourceKernelSchema>;

export const SourceInventorySchema = z.object({
  /** "/" for the running machine, or the folder a tree was read from. */
  sourceRoot: path(),
  collectedAt: z.string().max(64),
  hostname: z.string().max(255).nullable(),
  arch: z.string().max(64),
  os: z.object({
    id: word(),
    versionId: word().nullable(),
    prettyName: word(),
    idLike: z.array(word()).max(32),
  }),
  bootMode: BootModeSchema,
  /** Whether the source can be booted by UEFI (has GRUB EFI or shim) and by BIOS (has GRUB for i386-pc). */
  canBoot: z.object({ bios: z.boolean(), uefi: z.boolean() }),
  bootloader: z.object({
    kind: z.enum(["grub2", "unknown"]),
    version: word().nullable(),
  }),
  kernels: z.array(SourceKernelSchema).max(256),
  /** Which network configuration system the source uses. */
  network: z.enum(["systemd-networkd", "ifupdown", "netplan", "NetworkManager", "unknown"]),
  disks: z.array(SourceDiskSchema).max(1024),
  mounts: z.array(SourceMountSchema).max(4096),
  /** Size of the source system disk (the disk holding "/"); for a tree, the size of the filesystem under it. */
  systemDiskBytes: bytes(),
  /** Bytes used by the system disk's tree ("/" and its same-disk mounts). */
  usedBytes: bytes(),
  /** Used bytes of extra source paths (data disk src_paths), measured on request. */
  paths: z.array(z.object({ path: path().startsWith("/"), usedBytes: bytes() })).max(64),
  lvm: z.boolean(),
  selinux: z.enum(["enforcing", "permissive", "disabled", "absent"]),
});
export type SourceInventory = z.infer<typeof SourceInventorySchema>;

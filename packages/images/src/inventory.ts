// Inventory of a source: the running machine ("/", read with lsblk, findmnt,
// df and /sys) or a root tree in a folder (read from the files themselves,
// for tests and offline sources). Either way the result is the same
// JSON-serialisable SourceInventory.
import { existsSync, readdirSync, readFileSync, statfsSync } from "node:fs";
import { arch as hostArch, hostname } from "node:os";
import { join } from "node:path";
import { type BootMode, HoistError, type SourceDisk, type SourceInventory, SourceInventorySchema, type SourceKernel, type SourceMount } from "@hoist/protocol";
import { run } from "@hoist/runtime";
import { listInitramfs, virtioIn } from "./initramfs";

export interface InventoryOptions {
  /** For a tree: the boot mode the user wants (the tree cannot tell how it was booted). */
  bootMode?: BootMode;
  /** Extra source folders (data disk src_paths) whose used bytes the planner needs. */
  paths?: string[];
  /** Skip reading initramfs images (they can be large). */
  skipInitramfs?: boolean;
  /**
   * The tree is only copied, never booted (`hoist migrate --copy-only`): a
   * folder without an OS or a bootloader is fine then.
   */
  copyOnly?: boolean;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

export function parseOsRelease(text: string): SourceInventory["os"] {
  const vars = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined) vars.set(m[1], m[2].replace(/^["']|["']$/g, ""));
  }
  return {
    id: vars.get("ID") ?? "linux",
    versionId: vars.get("VERSION_ID") ?? null,
    prettyName: vars.get("PRETTY_NAME") ?? vars.get("NAME") ?? "Linux",
    idLike: (vars.get("ID_LIKE") ?? "").split(/\s+/).filter(Boolean),
  };
}

/** Bytes used by a tree on one filesystem (du -sxb), so a test tree or a data folder can be sized. */
export async function usedBytesOf(path: string): Promise<number> {
  const r = await run("du", ["-sxb", path], { okExitCodes: [0, 1], timeoutMs: 30 * 60_000 });
  const n = Number.parseInt(r.stdout.trim().split(/\s+/)[0] ?? "", 10);
  if (!Number.isFinite(n)) throw new HoistError("Inventory.UsageUnknown", `Could not measure the used space of ${path}.`, { fix: "Check that the folder exists and is readable." });
  return n;
}

/** Used bytes of a data disk's source folder, refusing one that is not there by name (not as a failed measurement). */
async function dataFolderBytes(path: string): Promise<{ path: string; usedBytes: number }> {
  if (!existsSync(path)) {
    throw new HoistError("Inventory.SourcePathMissing", `The data disk's source folder ${path} (its src_path) does not exist on the source.`, {
      fix: "Correct src_path in user_config.json (or --datadisks / the job's DataDisks), or create the folder on the source.",
    });
  }
  return { path, usedBytes: await usedBytesOf(path) };
}

async function readKernels(root: string, skipInitramfs: boolean): Promise<SourceKernel[]> {
  const boot = join(root, "boot");
  if (!existsSync(boot)) return [];
  const files = readdirSync(boot);
  const kernels: SourceKernel[] = [];
  for (const f of files.filter((n) => n.startsWith("vmlinuz-")).sort().reverse()) {
    const version = f.slice("vmlinuz-".length);
    const initrd = [`initrd.img-${version}`, `initramfs-${version}.img`].find((n) => files.includes(n)) ?? null;
    let virtio: SourceKernel["virtio"] = null;
    if (initrd && !skipInitramfs) {
      try {
        virtio = virtioIn(await listInitramfs(join(boot, initrd)));
      } catch {
        virtio = null;
      }
    }
    kernels.push({ version, image: `/boot/${f}`, initramfs: initrd ? `/boot/${initrd}` : null, virtio });
  }
  return kernels;
}

function grubVersion(root: string): string | null {
  // Debian records the installed GRUB version in dpkg's status file; other distributions leave the modules folder only.
  const status = readText(join(root, "var/lib/dpkg/status"));
  if (status) {
    const m = /Package: grub2?-common\n(?:[^\n]+\n)*?Version: ([^\n]+)/.exec(status);
    if (m?.[1]) return m[1];
  }
  for (const dir of ["usr/lib/grub", "usr/lib/grub2"]) if (existsSync(join(root, dir))) return "2";
  return null;
}

export function networkOf(root: string): SourceInventory["network"] {
  if (existsSync(join(root, "etc/netplan")) && readdirSync(join(root, "etc/netplan")).length > 0) return "netplan";
  if (existsSync(join(root, "etc/NetworkManager/system-connections")) || existsSync(join(root, "usr/sbin/NetworkManager"))) return "NetworkManager";
  if (existsSync(join(root, "etc/network/interfaces")) || existsSync(join(root, "sbin/ifup")) || existsSync(join(root, "usr/sbin/ifup"))) return "ifupdown";
  if (existsSync(join(root, "etc/systemd/network"))) return "systemd-networkd";
  return "unknown";
}

function selinuxOf(root: string): SourceInventory["selinux"] {
  const cfg = readText(join(root, "etc/selinux/config"));
  if (!cfg) return "absent";
  const m = /^SELINUX=(\w+)/m.exec(cfg);
  const v = m?.[1];
  return v === "enforcing" || v === "permissive" || v === "disabled" ? v : "absent";
}

function bootCapabilities(root: string): { bios: boolean; uefi: boolean } {
  const has = (p: string): boolean => existsSync(join(root, p));
  const uefi = has("usr/lib/grub/x86_64-efi") || has("usr/lib/shim") || has("boot/efi/EFI");
  const bios = has("usr/lib/grub/i386-pc");
  return { bios, uefi };
}

async function treeInventory(root: string, opts: InventoryOptions, measureTree = true): Promise<SourceInventory> {
  const osText = readText(join(root, "etc/os-release")) ?? readText(join(root, "usr/lib/os-release")) ?? (opts.copyOnly ? 'ID=unknown\nPRETTY_NAME="unknown"\n' : null);
  if (!osText) throw new HoistError("Inventory.NotARootTree", `${root} has no etc/os-release; it does not look like a Linux root filesystem.`, { fix: "Pass the folder that contains etc/, usr/ and boot/ of the source system." });
  const canBoot = bootCapabilities(root);
  const bootMode = opts.bootMode ?? (canBoot.bios ? "bios" : "uefi");
  if (!canBoot.bios && !canBoot.uefi && !opts.copyOnly) {
    throw new HoistError("Inventory.NoGrub", "The source tree has no GRUB at all: neither usr/lib/grub/i386-pc (BIOS) nor usr/lib/grub/x86_64-efi or shim (UEFI).", {
      fix: "Install grub-pc-bin (BIOS) or grub-efi-amd64-bin (UEFI) on the source and sync again.",
    });
  }
  if (!canBoot[bootMode] && !opts.copyOnly) {
    throw new HoistError("Inventory.BootModeUnsupported", `The source tree has no GRUB for ${bootMode === "uefi" ? "UEFI (usr/lib/grub/x86_64-efi or shim)" : "BIOS (usr/lib/grub/i386-pc)"}.`, {
      fix: `Install ${bootMode === "uefi" ? "grub-efi-amd64-bin" : "grub-pc-bin"} on the source, or choose the other boot mode.`,
    });
  }
  const fsStat = statfsSync(root);
  const fsSize = fsStat.blocks * fsStat.bsize;
  // The running machine's mounts are sized by the filesystem (df); walking all of "/" would take minutes.
  const used = measureTree ? await usedBytesOf(root) : (fsStat.blocks - fsStat.bfree) * fsStat.bsize;
  const paths = await Promise.all((opts.paths ?? []).map(dataFolderBytes));
  const mounts: SourceMount[] = [{ mountPoint: "/", device: root, fs: "unknown", sizeBytes: fsSize, usedBytes: used }];
  return SourceInventorySchema.parse({
    sourceRoot: root,
    collectedAt: new Date().toISOString(),
    hostname: readText(join(root, "etc/hostname"))?.trim() || null,
    arch: existsSync(join(root, "lib64/ld-linux-x86-64.so.2")) || existsSync(join(root, "usr/lib64/ld-linux-x86-64.so.2")) ? "x86_64" : hostArch(),
    os: parseOsRelease(osText),
    bootMode,
    canBoot,
    bootloader: { kind: existsSync(join(root, "usr/lib/grub")) ? "grub2" : "unknown", version: grubVersion(root) },
    kernels: await readKernels(root, opts.skipInitramfs ?? false),
    network: networkOf(root),
    disks: [],
    mounts,
    systemDiskBytes: fsSize,
    usedBytes: used,
    paths,
    lvm: existsSync(join(root, "etc/lvm/lvm.conf")),
    selinux: selinuxOf(root),
  });
}

interface LsblkDevice {
  name: string;
  path?: string;
  size: number | string;
  type: string;
  pttype?: string | null;
  fstype?: string | null;
  uuid?: string | null;
  mountpoint?: string | null;
  mountpoints?: (string | null)[];
  children?: LsblkDevice[];
}

interface FindmntFs {
  target: string;
  source: string;
  fstype: string;
  children?: FindmntFs[];
}

const REAL_FS = new Set(["ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "f2fs", "jfs", "reiserfs"]);

async function liveInventory(opts: InventoryOptions): Promise<SourceInventory> {
  const booted = existsSync("/sys/firmware/efi") ? "uefi" : "bios";
  const tree = await treeInventory("/", { ...opts, bootMode: booted, paths: [] }, false).catch(async (e: unknown) => {
    // The running machine's boot mode is a fact; a missing GRUB package only matters to the plan.
    if (e instanceof HoistError && e.code === "Inventory.BootModeUnsupported") return treeInventory("/", { ...opts, bootMode: booted === "uefi" ? "bios" : "uefi", paths: [] }, false);
    throw e;
  });
  const lsblk = JSON.parse((await run("lsblk", ["-J", "-b", "-O"])).stdout) as { blockdevices: LsblkDevice[] };
  const findmnt = JSON.parse((await run("findmnt", ["-J"])).stdout) as { filesystems: FindmntFs[] };
  const flat: FindmntFs[] = [];
  const walk = (list: FindmntFs[]): void => {
    for (const f of list) {
      flat.push(f);
      if (f.children) walk(f.children);
    }
  };
  walk(findmnt.filesystems);
  const mounts: SourceMount[] = [];
  for (const f of flat.filter((m) => REAL_FS.has(m.fstype))) {
    const st = statfsSync(f.target);
    mounts.push({ mountPoint: f.target, device: f.source, fs: f.fstype, sizeBytes: st.blocks * st.bsize, usedBytes: (st.blocks - st.bfree) * st.bsize });
  }
  const mountOf = (d: LsblkDevice): string | null => d.mountpoint ?? d.mountpoints?.find((m) => m) ?? null;
  const disks: SourceDisk[] = lsblk.blockdevices
    .filter((d) => d.type === "disk")
    .map((d) => {
      const parts: SourceDisk["partitions"] = [];
      const collect = (list: LsblkDevice[] | undefined): void => {
        for (const c of list ?? []) {
          parts.push({ name: c.name, path: c.path ?? `/dev/${c.name}`, sizeBytes: Number(c.size), fs: c.fstype ?? null, uuid: c.uuid ?? null, mountPoint: mountOf(c) });
          collect(c.children);
        }
      };
      collect(d.children);
      return { name: d.name, path: d.path ?? `/dev/${d.name}`, sizeBytes: Number(d.size), table: d.pttype === "gpt" ? "gpt" : d.pttype === "dos" ? "mbr" : "none", partitions: parts };
    });
  const rootDisk = disks.find((d) => d.partitions.some((p) => p.mountPoint === "/")) ?? disks[0];
  const rootDiskMounts = new Set((rootDisk?.partitions ?? []).map((p) => p.mountPoint).filter((m): m is string => m !== null));
  const usedOnSystemDisk = mounts.filter((m) => rootDiskMounts.has(m.mountPoint)).reduce((sum, m) => sum + m.usedBytes, 0);
  const paths = await Promise.all((opts.paths ?? []).map(dataFolderBytes));
  return SourceInventorySchema.parse({
    ...tree,
    bootMode: booted,
    hostname: hostname(),
    disks,
    mounts,
    systemDiskBytes: rootDisk?.sizeBytes ?? tree.systemDiskBytes,
    usedBytes: usedOnSystemDisk || tree.usedBytes,
    paths,
    // lvm2 installed (what an LVM re-layout needs) or already in use.
    lvm: tree.lvm || disks.some((d) => d.partitions.some((p) => p.fs === "LVM2_member")),
  });
}

/** Reads a source: "/" is the running machine, any other folder is a root tree. */
export async function collectInventory(sourceRoot: string, opts: InventoryOptions = {}): Promise<SourceInventory> {
  if (sourceRoot === "/") return liveInventory(opts);
  if (!existsSync(sourceRoot)) throw new HoistError("Inventory.SourceMissing", `The source root ${sourceRoot} does not exist.`, { fix: "Pass an existing folder with --source-root." });
  return treeInventory(sourceRoot, opts);
}

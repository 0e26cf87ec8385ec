// LVM re-layout of a target disk: one PV per disk, VG vgX (X = the disk
// number, 0 for the system disk) and one LV lvY per mount point (Y counts
// from 1 in partition order). /boot and the ESP stay plain partitions so the
// firmware and GRUB find them without LVM.
//
// The intermediate instance may have no device-mapper, so LVs are never
// activated here: the metadata is written on the PV's loop device, each LV's
// single linear segment is read back, and the LV is then used through a loop
// device over exactly those bytes of the raw disk. The guest's own LVM
// activates the same extents at boot. Every LVM command runs with a private
// configuration that sees only this job's PV, so neither the host's volume
// groups nor another job's vg0 can be touched, and nothing is written to the
// host's /etc/lvm; deleting the raw file is all it takes to remove a VG.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HoistError, type TargetDisk, type TargetPartition, type TargetPlan } from "@hoist/protocol";
import { run } from "@hoist/runtime";

/** GPT type GUID and MBR type byte of an LVM physical volume. */
export const LVM_GPT_TYPE = "E6D6D379-F507-44C2-A23C-238F2A3DF928";
export const LVM_MBR_TYPE = "8e";

export interface PlannedLv {
  part: TargetPartition;
  /** "lv1", "lv2", … */
  name: string;
}

export interface DiskLvmLayout {
  /** "vg0" for the system disk, "vgN" for data disk N. */
  vg: string;
  /** Partitions that stay plain, in front of the PV (/boot/efi, /boot). */
  plain: TargetPartition[];
  lvs: PlannedLv[];
}

/** The disk number used in VG names: 0 for the system disk, N for data disk N. */
export function diskNumber(diskKey: string): number {
  if (diskKey === "system") return 0;
  const n = Number(/^disk(\d+)$/.exec(diskKey)?.[1]);
  if (!Number.isInteger(n) || n < 1) throw new HoistError("Plan.InvalidDiskKey", `"${diskKey}" is not a target disk key (system or diskN).`);
  return n;
}

/** Which partitions of a disk become LVs. The firmware and GRUB must read /boot and the ESP directly. */
export function lvmLayout(disk: TargetDisk): DiskLvmLayout {
  const plain = disk.partitions.filter((p) => p.role === "efi" || p.role === "boot");
  const onLvm = disk.partitions.filter((p) => !plain.includes(p));
  return { vg: `vg${diskNumber(disk.key)}`, plain, lvs: onLvm.map((part, i) => ({ part, name: `lv${i + 1}` })) };
}

/** The device path the guest sees for a planned partition on LVM (what root= names), or null if it is a plain partition. */
export function lvDevicePath(plan: TargetPlan, mountPoint: string): string | null {
  if (!plan.lvm) return null;
  for (const disk of plan.disks) {
    const layout = lvmLayout(disk);
    const lv = layout.lvs.find((l) => l.part.mountPoint === mountPoint);
    // dm names double any hyphen inside VG and LV names; ours have none.
    if (lv) return `/dev/mapper/${layout.vg}-${lv.name}`;
  }
  return null;
}

/** Byte offset of an LV's first extent from the start of its PV. */
export function lvOffsetInPv(peStartBytes: number, firstPe: number, extentBytes: number): number {
  return peStartBytes + firstPe * extentBytes;
}

export interface LvExtent {
  /** Bytes from the start of the PV to the LV's first byte. */
  offset: number;
  size: number;
}

interface LvsReport {
  report: { seg?: { lv_name: string; segtype: string; seg_pe_ranges: string; vg_extent_size: string; seg_size: string }[] }[];
}
interface PvsReport {
  report: { pv?: { pv_name: string; pe_start: string }[] }[];
}

const bytes = (text: string): number => Number(text.replace(/B$/, ""));

/** Where each LV lives inside the PV, from `lvs --segments` and `pvs` JSON reports (sizes in bytes). */
export function parseLvExtents(lvsJson: string, pvsJson: string): Record<string, LvExtent> {
  const pv = (JSON.parse(pvsJson) as PvsReport).report[0]?.pv?.[0];
  if (!pv) throw new HoistError("Disk.LvmFailed", "pvs reported no physical volume.");
  const peStart = bytes(pv.pe_start);
  const out: Record<string, LvExtent> = {};
  for (const seg of (JSON.parse(lvsJson) as LvsReport).report[0]?.seg ?? []) {
    // Only one linear run of extents can be reached through one loop device.
    const range = /^[^:]+:(\d+)-(\d+)$/.exec(seg.seg_pe_ranges);
    if (seg.segtype !== "linear" || !range || out[seg.lv_name]) {
      throw new HoistError("Disk.LvmFailed", `Logical volume ${seg.lv_name} is not one linear segment (${seg.segtype} ${seg.seg_pe_ranges}).`, {
        fix: "Release the job's disks and prepare them again.",
      });
    }
    const extent = bytes(seg.vg_extent_size);
    const first = Number(range[1]);
    const count = Number(range[2]) - first + 1;
    out[seg.lv_name] = { offset: lvOffsetInPv(peStart, first, extent), size: count * extent };
  }
  return out;
}

/** lvm.conf settings that keep LVM away from device-mapper, udev, the host's lock folder and metadata backups. */
function lvmSettings(lockDir: string): string {
  return [
    `global { activation = 0 locking_dir = "${lockDir}" use_lvmpolld = 0 event_activation = 0 }`,
    "activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }",
    "backup { backup = 0 archive = 0 }",
  ].join("\n");
}

/** The device filter that lets a command see `devices` and nothing else (not the host's disks, not another job's PVs). */
function deviceFilter(devices: readonly string[]): string {
  const quote = (d: string): string => d.replace(/[|\\^$.*+?()[\]{}]/g, "\\$&");
  const accept = devices.map((d) => `"a|^${quote(d)}$|"`).join(", ");
  return `devices { filter = [ ${accept}, "r|.*|" ] global_filter = [ ${accept}, "r|.*|" ] use_devicesfile = 0 obtain_device_list_from_udev = 0 external_device_info_source = "none" hints = "none" }`;
}

/** Every lvm.conf setting a job's LVM commands run with. */
export function lvmConfig(devices: readonly string[], lockDir: string): string {
  return `${lvmSettings(lockDir)}\n${deviceFilter(devices)}`;
}

/**
 * Runs LVM tools for one job: its own system dir, so the host's lvm.conf (a global_filter, a devices
 * file) does not apply, and a filter on each command naming only the job's PV.
 */
export function lvmRunner(jobDir: string, pvDevice: string) {
  const systemDir = join(jobDir, "lvm");
  const lockDir = join(systemDir, "lock");
  mkdirSync(lockDir, { recursive: true });
  writeFileSync(join(systemDir, "lvm.conf"), `${lvmSettings(lockDir)}\n`);
  const env = { ...process.env, LVM_SYSTEM_DIR: systemDir, LVM_SUPPRESS_FD_WARNINGS: "1" };
  const filter = deviceFilter([pvDevice]);
  return (tool: string, args: string[]) => run(tool, ["--config", filter, ...args], { env, code: "Disk.LvmFailed" });
}

/** Writes PV, VG and LVs onto `pvDevice` without activating anything and returns where each LV lies within the PV. */
export async function createVolumeGroup(jobDir: string, pvDevice: string, layout: DiskLvmLayout): Promise<Record<string, LvExtent>> {
  const lvm = lvmRunner(jobDir, pvDevice);
  await lvm("pvcreate", ["--yes", "--force", pvDevice]);
  await lvm("vgcreate", ["--yes", layout.vg, pvDevice]);
  for (const lv of layout.lvs) {
    const size = lv.part.sizeMiB === null ? ["--extents", "100%FREE"] : ["--size", `${lv.part.sizeMiB}m`];
    await lvm("lvcreate", ["--yes", "--activate", "n", "--zero", "n", "--wipesignatures", "n", ...size, "--name", lv.name, layout.vg]);
  }
  const lvs = await lvm("lvs", ["--segments", "-o", "lv_name,segtype,seg_pe_ranges,vg_extent_size,seg_size", "--units", "b", "--reportformat", "json", layout.vg]);
  const pvs = await lvm("pvs", ["-o", "pv_name,pe_start", "--units", "b", "--reportformat", "json", pvDevice]);
  const extents = parseLvExtents(lvs.stdout, pvs.stdout);
  for (const lv of layout.lvs) {
    if (!extents[lv.name]) throw new HoistError("Disk.LvmFailed", `lvs does not list ${layout.vg}/${lv.name} after creating it.`, { fix: "Release the job's disks and prepare them again." });
  }
  return extents;
}

// Reading the logical volumes of an image's LVM physical volume for the static
// check. Nothing is activated (this host may have no device-mapper, and the
// image must stay untouched): LVM's tools only report where each LV's extents
// lie inside the PV, and the check then reads each LV through a read-only loop
// device over exactly those bytes, the way it reads a partition.
import { HoistError } from "@hoist/protocol";
import { LVM_GPT_TYPE, LVM_MBR_TYPE, type LvExtent, lvmRunner, parseLvExtents } from "./lvm";

export interface ImageLv {
  vg: string;
  lv: string;
  /** Bytes from the start of the PV. */
  offset: number;
  size: number;
  /** Names the guest's kernel and fstab may use for it: /dev/mapper/vg-lv and /dev/vg/lv. */
  paths: string[];
}

/** Whether a partition (by its table type or the signature blkid found on it) is an LVM physical volume. */
export function isLvmPv(partitionType: string | undefined, blkidType: string): boolean {
  if (blkidType === "LVM2_member") return true;
  const t = (partitionType ?? "").toLowerCase();
  return t === LVM_MBR_TYPE || t === `0x${LVM_MBR_TYPE}` || t === LVM_GPT_TYPE.toLowerCase();
}

/** The device-mapper name of an LV: hyphens inside either name are doubled so the separator stays unique. */
export function mapperPath(vg: string, lv: string): string {
  return `/dev/mapper/${vg.replace(/-/g, "--")}-${lv.replace(/-/g, "--")}`;
}

/** Both spellings of an LV's device (/dev/mapper/vg-lv, /dev/vg/lv) reduced to one key. */
export function lvDeviceKey(spec: string): string | null {
  const mapper = /^\/dev\/mapper\/(.+)$/.exec(spec)?.[1];
  if (mapper) {
    // A single hyphen separates VG from LV; doubled ones are hyphens inside the names.
    const m = /^((?:[^-]|--)+)-((?:[^-]|--)+)$/.exec(mapper);
    if (!m?.[1] || !m[2]) return null;
    return `${m[1].replace(/--/g, "-")}/${m[2].replace(/--/g, "-")}`;
  }
  const direct = /^\/dev\/([^/]+)\/([^/]+)$/.exec(spec);
  if (!direct?.[1] || !direct[2] || ["disk", "mapper", "block", "char", "pts", "shm", "fd", "net", "bus", "input", "snd", "dri", "cpu"].includes(direct[1])) return null;
  return `${direct[1]}/${direct[2]}`;
}

interface VgReport {
  report: { seg?: { lv_name: string; vg_name: string }[] }[];
}

/**
 * The LVs on the PV at `pvDevice` (a read-only loop device), with LVM reading only that device under a private
 * configuration in `scratchDir`. Throws Image.LvmUnreadable when an LV cannot be reached as one byte range.
 */
export async function readImageLvs(scratchDir: string, pvDevice: string): Promise<ImageLv[]> {
  const lvm = lvmRunner(scratchDir, pvDevice);
  const fields = "lv_name,vg_name,segtype,seg_pe_ranges,vg_extent_size,seg_size";
  const lvs = await lvm("lvs", ["--readonly", "--segments", "-o", fields, "--units", "b", "--reportformat", "json"]);
  const pvs = await lvm("pvs", ["--readonly", "-o", "pv_name,pe_start", "--units", "b", "--reportformat", "json", pvDevice]);
  let extents: Record<string, LvExtent>;
  try {
    extents = parseLvExtents(lvs.stdout, pvs.stdout);
  } catch (e) {
    throw new HoistError("Image.LvmUnreadable", `The LVM physical volume in the image cannot be read as plain byte ranges: ${(e as Error).message}`, {
      fix: "Check the image on a host that can activate its volume groups, or migrate again with one linear LV per mount point.",
      cause: e,
    });
  }
  const out: ImageLv[] = [];
  for (const seg of (JSON.parse(lvs.stdout) as VgReport).report[0]?.seg ?? []) {
    const extent = extents[seg.lv_name];
    if (!extent) continue;
    out.push({ vg: seg.vg_name, lv: seg.lv_name, offset: extent.offset, size: extent.size, paths: [mapperPath(seg.vg_name, seg.lv_name), `/dev/${seg.vg_name}/${seg.lv_name}`] });
  }
  return out;
}

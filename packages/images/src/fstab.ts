// /etc/fstab of the migrated system: every planned filesystem by its new
// UUID, data disks with nofail (a missing data disk must not stop the boot),
// entries for source devices that were not migrated commented out, and
// virtual filesystems (proc, tmpfs, network mounts) kept as they were.
import type { TargetPlan } from "@hoist/protocol";

export interface FstabEntry {
  spec: string;
  file: string;
  vfstype: string;
  options: string;
  freq: string;
  passno: string;
}

export function parseFstabLine(line: string): FstabEntry | null {
  const t = line.trim();
  if (!t || t.startsWith("#")) return null;
  const f = t.split(/\s+/);
  if (f.length < 2) return null;
  return { spec: f[0] ?? "", file: f[1] ?? "", vfstype: f[2] ?? "auto", options: f[3] ?? "defaults", freq: f[4] ?? "0", passno: f[5] ?? "0" };
}

export function parseFstab(text: string): FstabEntry[] {
  return text
    .split("\n")
    .map(parseFstabLine)
    .filter((e): e is FstabEntry => e !== null);
}

/** Entries that name a block device (and so cannot be valid on new disks). */
function isDeviceEntry(e: FstabEntry): boolean {
  return /^(UUID|PARTUUID|LABEL|PARTLABEL)=/.test(e.spec) || e.spec.startsWith("/dev/");
}

export function plannedFstabEntries(plan: TargetPlan): FstabEntry[] {
  const out: FstabEntry[] = [];
  for (const disk of plan.disks) {
    for (const p of disk.partitions) {
      const data = disk.key !== "system";
      let options = p.fs === "vfat" ? "umask=0077" : p.mountPoint === "/" && p.fs === "ext4" ? "errors=remount-ro" : "defaults";
      if (data) options += ",nofail";
      // xfs is checked at mount time, so fsck must not run on it.
      const passno = p.fs === "xfs" ? "0" : p.mountPoint === "/" ? "1" : "2";
      out.push({ spec: `UUID=${p.uuid}`, file: p.mountPoint, vfstype: p.fs, options, freq: "0", passno });
    }
  }
  return out.sort((a, b) => a.file.split("/").length - b.file.split("/").length || a.file.localeCompare(b.file));
}

const HEADER = "# Filesystems of the migrated disks, by UUID.";

const fmt = (e: FstabEntry): string => [e.spec, e.file, e.vfstype, e.options, e.freq, e.passno].join("\t");

/** The new fstab text for `plan`, keeping the source's comments and virtual mounts. */
export function rewriteFstab(oldText: string, plan: TargetPlan): string {
  const planned = plannedFstabEntries(plan);
  const plannedPoints = new Set(planned.map((e) => e.file));
  const kept: string[] = [];
  for (const line of oldText.split("\n")) {
    const e = parseFstabLine(line);
    if (line === HEADER) continue;
    if (!e) {
      if (line.trim() !== "" || kept.length > 0) kept.push(line);
      continue;
    }
    if (plannedPoints.has(e.file)) continue;
    if (isDeviceEntry(e)) kept.push(`# not on the migrated disks: ${line.trim()}`);
    else kept.push(line);
  }
  while (kept.length > 0 && kept[kept.length - 1]?.trim() === "") kept.pop();
  const head = kept.length > 0 ? `${kept.join("\n")}\n\n` : "";
  return `${head}${HEADER}\n${planned.map(fmt).join("\n")}\n`;
}

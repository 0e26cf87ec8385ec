// The disk-image TargetBackend: each target disk is a sparse raw file in the
// job folder, partitioned with sfdisk, each partition on its own loop device,
// formatted with the plan's UUIDs and mounted under jobDir/mnt/<disk>. What
// is attached is recorded in jobDir/state.json so that a restarted receiver
// re-attaches and re-mounts the same disks instead of formatting them again.
// With LVM, each LV is recorded like a partition at its absolute byte range
// in the raw file (see lvm.ts), so attaching and mounting stay the same.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { HoistError, type TargetDisk, type TargetPartition } from "@hoist/protocol";
import { type Logger, run } from "@hoist/runtime";
import type { BlockFinishResult, BlockTarget, JobTargets, PreparedDisk, TargetBackend } from "./backend";
import { blockMountOptions, checkAndGrow } from "./block-target";
import { convertTarget } from "./convert";
import { diskMountPath } from "./job-paths";
import { attachLoop, detachLoop, kernelHasFs, loopInfo, mountDevice, unmount } from "./loop";
import { createVolumeGroup, LVM_GPT_TYPE, LVM_MBR_TYPE, lvmLayout } from "./lvm";

const GiB = 1024 ** 3;
const ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const LINUX_TYPE = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

interface PartitionState {
  offset: number;
  size: number;
  loop: string | null;
  /** Block mode: chunks are arriving (never mounted), or the copy is verified and finished. */
  block?: "receiving" | "complete";
}

interface DiskState {
  rawPath: string;
  sizeBytes: number;
  partitions: Record<string, PartitionState>;
  /** The physical volume holding the disk's LVs, when the plan uses LVM. */
  pv?: { vg: string; offset: number; size: number };
}

interface JobState {
  version: 1;
  disks: Record<string, DiskState>;
}

function statePath(jobDir: string): string {
  return join(jobDir, "state.json");
}

/** The loop device currently holding a partition of a prepared disk. */
export function partitionDevice(jobDir: string, diskKey: string, partKey: string): string | null {
  return readJobState(jobDir).disks[diskKey]?.partitions[partKey]?.loop ?? null;
}

export function readJobState(jobDir: string): JobState {
  const p = statePath(jobDir);
  if (!existsSync(p)) return { version: 1, disks: {} };
  return JSON.parse(readFileSync(p, "utf8")) as JobState;
}

function writeJobState(jobDir: string, state: JobState): void {
  const p = statePath(jobDir);
  writeFileSync(`${p}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${p}.tmp`, p);
}

/**
 * The sfdisk script for a target disk: 1 MiB aligned, so sectors 1–2047 stay free for GRUB's core.img on MBR disks.
 * With `lvm`, the plain partitions (ESP, /boot) come first and one LVM PV takes the rest of the disk.
 */
export function sfdiskScript(disk: TargetDisk, lvm = false): string {
  const lines = [disk.table === "gpt" ? "label: gpt" : "label: dos", "unit: sectors", ""];
  const parts = lvm ? lvmLayout(disk).plain : disk.partitions;
  parts.forEach((p, i) => {
    const fields: string[] = [];
    if (i === 0) fields.push("start=2048");
    if (p.sizeMiB !== null) fields.push(`size=${p.sizeMiB}MiB`);
    if (disk.table === "gpt") fields.push(`type=${p.role === "efi" ? ESP_TYPE : LINUX_TYPE}`);
    else fields.push("type=83");
    if (disk.table === "mbr" && (p.role === "boot" || (p.role === "root" && !disk.partitions.some((q) => q.role === "boot")))) fields.push("bootable");
    lines.push(fields.join(", "));
  });
  if (lvm) lines.push([...(parts.length === 0 ? ["start=2048"] : []), `type=${disk.table === "gpt" ? LVM_GPT_TYPE : LVM_MBR_TYPE}`].join(", "));
  return `${lines.join("\n")}\n`;
}

function isNoSpace(e: unknown): boolean {
  const text = e instanceof Error ? `${(e as NodeJS.ErrnoException).code ?? ""} ${e.message}` : String(e);
  return /ENOSPC|No space left/i.test(text);
}

function diskFull(where: string, cause: unknown): HoistError {
  return new HoistError("Receiver.DiskFull", `The intermediate instance ran out of space while creating ${where}.`, {
    fix: "Free space in the job folder's filesystem (or give the intermediate instance a bigger disk), then run again; prepared disks are kept.",
    retryable: true,
    cause,
  });
}

async function createRaw(path: string, sizeBytes: number): Promise<void> {
  const fh = await open(path, "w");
  try {
    await fh.truncate(sizeBytes);
  } finally {
    await fh.close();
  }
}

async function readTable(rawPath: string): Promise<{ start: number; size: number }[]> {
  const r = await run("sfdisk", ["-J", rawPath], { code: "Disk.PartitionFailed" });
  const parsed = JSON.parse(r.stdout) as { partitiontable: { sectorsize?: number; partitions?: { start: number; size: number }[] } };
  const sector = parsed.partitiontable.sectorsize ?? 512;
  return (parsed.partitiontable.partitions ?? []).map((p) => ({ start: p.start * sector, size: p.size * sector }));
}

async function fsUuid(device: string): Promise<string | null> {
  const r = await run("blkid", ["-p", "-o", "value", "-s", "UUID", device], { okExitCodes: [0, 2] });
  return r.stdout.trim() || null;
}

async function makeFs(device: string, part: TargetPartition): Promise<void> {
  const uuid = part.uuid ?? "";
  const label = part.role === "efi" ? ["-n", "EFI"] : [];
  if (part.fs === "vfat") await run("mkfs.vfat", ["-F", "32", "-i", uuid.replace("-", ""), ...label, device], { code: "Disk.FormatFailed" });
  else if (part.fs === "xfs") await run("mkfs.xfs", ["-f", "-q", "-m", `uuid=${uuid}`, device], { code: "Disk.FormatFailed" });
  else await run("mkfs.ext4", ["-F", "-q", "-U", uuid, device], { code: "Disk.FormatFailed" });
}

/** Mount points of a disk's partitions, outermost first, inside its mount folder. */
function mountOrder(disk: TargetDisk): TargetPartition[] {
  const base = disk.key === "system" ? "/" : disk.partitions[0]?.mountPoint;
  return [...disk.partitions].sort((a, b) => (a.mountPoint === base ? -1 : b.mountPoint === base ? 1 : a.mountPoint.length - b.mountPoint.length));
}

function relativeMount(disk: TargetDisk, part: TargetPartition): string {
  if (disk.key !== "system") return "";
  return part.mountPoint === "/" ? "" : part.mountPoint;
}

/** Lays the disk's LVs into the PV and records each LV's byte range in the raw file as if it were a partition. */
async function createLvs(jobDir: string, disk: TargetDisk, ds: DiskState, pv: { start: number; size: number }, log: Logger): Promise<void> {
  const layout = lvmLayout(disk);
  const pvLoop = await attachLoop(ds.rawPath, pv.start, pv.size);
  let extents: Awaited<ReturnType<typeof createVolumeGroup>>;
  try {
    extents = await createVolumeGroup(jobDir, pvLoop, layout);
  } finally {
    // The PV's device is only needed to write the metadata; LVs are reached through their own loop devices.
    await detachLoop(pvLoop);
  }
  ds.pv = { vg: layout.vg, offset: pv.start, size: pv.size };
  for (const lv of layout.lvs) {
    const e = extents[lv.name] as { offset: number; size: number };
    ds.partitions[lv.part.key] = { offset: pv.start + e.offset, size: e.size, loop: null };
    log.info("created logical volume", { lv: `${layout.vg}/${lv.name}`, mountPoint: lv.part.mountPoint, sizeBytes: e.size });
  }
}

async function prepareDisk(jobDir: string, disk: TargetDisk, lvm: boolean, state: JobState, log: Logger): Promise<PreparedDisk> {
  const rawPath = join(jobDir, "disks", `${disk.key}.raw`);
  const sizeBytes = disk.sizeGiB * GiB;
  let ds = state.disks[disk.key];
  if (!ds || !existsSync(rawPath) || Object.keys(ds.partitions).length !== disk.partitions.length) {
    log.info("creating target disk", { disk: disk.key, sizeGiB: disk.sizeGiB });
    try {
      await createRaw(rawPath, sizeBytes);
      await run("sfdisk", ["--quiet", "--wipe", "always", rawPath], { input: sfdiskScript(disk, lvm), code: "Disk.PartitionFailed" });
    } catch (e) {
      if (isNoSpace(e)) throw diskFull(rawPath, e);
      throw e;
    }
    const table = await readTable(rawPath);
    ds = { rawPath, sizeBytes, partitions: {} };
    const plain = lvm ? lvmLayout(disk).plain : disk.partitions;
    const slot = (i: number): { start: number; size: number } => {
      const t = table[i];
      if (!t) throw new HoistError("Disk.PartitionFailed", `sfdisk did not create partition ${i + 1} on ${rawPath}.`);
      return t;
    };
    plain.forEach((p, i) => {
      const t = slot(i);
      (ds as DiskState).partitions[p.key] = { offset: t.start, size: t.size, loop: null };
    });
    if (lvm) await createLvs(jobDir, disk, ds, slot(plain.length), log);
    state.disks[disk.key] = ds;
    writeJobState(jobDir, state);
  }
  const mountPath = diskMountPath(jobDir, disk.key);
  // A block partition whose copy is not finished is never mounted, nor anything mounted inside it.
  const unmountable: string[] = [];
  const inside = (mp: string, outer: string): boolean => mp === outer || outer === "/" || mp.startsWith(`${outer}/`);
  for (const part of mountOrder(disk)) {
    const ps = ds.partitions[part.key];
    if (!ps) throw new HoistError("Disk.StateCorrupt", `${statePath(jobDir)} does not list partition ${part.key}.`, { fix: "Release the job's disks and prepare them again." });
    const info = ps.loop ? await loopInfo(ps.loop) : null;
    if (!info || info.backFile !== rawPath || info.offset !== ps.offset) {
      ps.loop = await attachLoop(rawPath, ps.offset, ps.size);
      writeJobState(jobDir, state);
    }
    const device = ps.loop as string;
    if (part.replication === "block") {
      if (ps.block !== "complete") unmountable.push(part.mountPoint);
      else if (!unmountable.some((u) => inside(part.mountPoint, u))) await mountDevice(device, join(mountPath, relativeMount(disk, part)), blockMountOptions(part.fs));
      continue;
    }
    if ((await fsUuid(device))?.toLowerCase() !== part.uuid?.toLowerCase()) {
      log.info("formatting partition", { disk: disk.key, partition: part.key, fs: part.fs });
      try {
        await makeFs(device, part);
      } catch (e) {
        if (isNoSpace(e)) throw diskFull(`${part.fs} on ${part.key}`, e);
        throw e;
      }
    }
    if (part.fs === "vfat" && !kernelHasFs("vfat")) {
      log.warn("this kernel cannot mount vfat; the ESP is written with mtools during conversion", { partition: part.key });
      continue;
    }
    if (unmountable.some((u) => inside(part.mountPoint, u))) continue;
    await mountDevice(device, join(mountPath, relativeMount(disk, part)));
  }
  return { key: disk.key, rawPath, sizeBytes, mountPath };
}

async function detachDisks(job: JobTargets, log: Logger): Promise<PreparedDisk[]> {
  const state = readJobState(job.jobDir);
  const out: PreparedDisk[] = [];
  for (const disk of job.plan.disks) {
    const ds = state.disks[disk.key];
    if (!ds) continue;
    const mountPath = diskMountPath(job.jobDir, disk.key);
    for (const part of mountOrder(disk).reverse()) await unmount(join(mountPath, relativeMount(disk, part)));
    for (const [key, ps] of Object.entries(ds.partitions)) {
      if (!ps.loop) continue;
      const info = await loopInfo(ps.loop);
      // Only detach the device if it is still ours: after a reboot the number may belong to someone else.
      if (info && info.backFile === ds.rawPath && info.offset === ps.offset) await detachLoop(ps.loop);
      log.debug("detached partition", { disk: disk.key, partition: key, loop: ps.loop });
      ps.loop = null;
    }
    writeJobState(job.jobDir, state);
    out.push({ key: disk.key, rawPath: ds.rawPath, sizeBytes: ds.sizeBytes, mountPath });
  }
  return out;
}

/** Deletes the empty mount folders, refusing while anything is still mounted below them (a recursive delete would wipe a live filesystem). */
async function removeMountFolders(jobDir: string): Promise<void> {
  const base = join(jobDir, "mnt");
  const r = await run("findmnt", ["-rn", "-o", "TARGET"], { okExitCodes: [0, 1] });
  const busy = r.stdout.split("\n").filter((t) => t === base || t.startsWith(`${base}/`));
  if (busy.length > 0) throw new HoistError("Disk.StillMounted", `${busy.join(", ")} is still mounted; the job's disks were not deleted.`, { fix: `Unmount ${busy.join(" ")} and release again.`, retryable: true });
  rmSync(base, { recursive: true, force: true });
}

function blockPartition(job: JobTargets, partitionKey: string): { disk: TargetDisk; part: TargetPartition } {
  for (const disk of job.plan.disks) {
    const part = disk.partitions.find((p) => p.key === partitionKey);
    if (part) {
      if (part.replication !== "block") {
        throw new HoistError("Receiver.NotBlockPartition", `partition ${partitionKey} is planned for file replication, not block`, { fix: "Copy it with the file transfer, or plan it as a block partition." });
      }
      return { disk, part };
    }
  }
  throw new HoistError("Receiver.NotBlockPartition", `the job's plan has no partition ${partitionKey}`, { fix: "Name a partition key of the job's plan, such as disk1-p1." });
}

async function unmountDisk(jobDir: string, disk: TargetDisk): Promise<void> {
  const mountPath = diskMountPath(jobDir, disk.key);
  for (const part of mountOrder(disk).reverse()) await unmount(join(mountPath, relativeMount(disk, part)));
}

async function openBlockTarget(job: JobTargets, partitionKey: string, log: Logger): Promise<BlockTarget> {
  const { disk, part } = blockPartition(job, partitionKey);
  const state = readJobState(job.jobDir);
  const known = state.disks[disk.key]?.partitions[partitionKey];
  if (known) {
    // Marked first, so that the prepare below does not mount what is about to be overwritten.
    known.block = "receiving";
    writeJobState(job.jobDir, state);
  }
  await unmountDisk(job.jobDir, disk);
  await prepareDisk(job.jobDir, disk, job.plan.lvm, state, log);
  await unmountDisk(job.jobDir, disk);
  const ps = state.disks[disk.key]?.partitions[partitionKey];
  if (!ps?.loop) throw new HoistError("Disk.StateCorrupt", `partition ${partitionKey} has no loop device after prepare`, { fix: "Release the job's disks and prepare them again." });
  ps.block = "receiving";
  writeJobState(job.jobDir, state);
  return { device: ps.loop, sizeBytes: ps.size, fs: part.fs };
}

async function finishBlockTarget(job: JobTargets, partitionKey: string, options: { grow: boolean }, log: Logger): Promise<BlockFinishResult> {
  const { disk, part } = blockPartition(job, partitionKey);
  const state = readJobState(job.jobDir);
  const ps = state.disks[disk.key]?.partitions[partitionKey];
  if (!ps?.loop) throw new HoistError("Receiver.NotPrepared", `partition ${partitionKey} is not attached`, { fix: "Start the block transfer again." });
  const { check, grown } = await checkAndGrow(ps.loop, part.fs, options.grow, job.jobDir, log);
  ps.block = "complete";
  writeJobState(job.jobDir, state);
  await prepareDisk(job.jobDir, disk, job.plan.lvm, state, log);
  log.info("block partition finished", { partition: partitionKey, check, grown });
  return { check, grown, targetBytes: ps.size, mounted: true };
}

export function createDiskBackend(): TargetBackend {
  return {
    async prepare(job, log) {
      mkdirSync(join(job.jobDir, "disks"), { recursive: true });
      const state = readJobState(job.jobDir);
      const fresh = job.plan.disks.filter((d) => !existsSync(join(job.jobDir, "disks", `${d.key}.raw`)));
      if (fresh.length > 0) {
        const st = statfsSync(job.jobDir);
        const free = st.bavail * st.bsize;
        const need = job.plan.disks.reduce((s, d) => s + d.usedBytes, 0) * 1.1;
        if (free < need) throw diskFull(`the target disks (need about ${Math.ceil(need / GiB)} GiB for the data, ${Math.floor(free / GiB)} GiB free)`, null);
      }
      const disks: PreparedDisk[] = [];
      for (const disk of job.plan.disks) disks.push(await prepareDisk(job.jobDir, disk, job.plan.lvm, state, log.child({ disk: disk.key })));
      return disks;
    },
    async convert(job, _inventory, log) {
      return convertTarget(job, log);
    },
    detach: detachDisks,
    openBlockTarget,
    finishBlockTarget,
    async release(job, log) {
      await detachDisks(job, log);
      for (const disk of job.plan.disks) rmSync(join(job.jobDir, "disks", `${disk.key}.raw`), { force: true });
      await removeMountFolders(job.jobDir);
      // The VGs lived only in the raw files just deleted; the private LVM folder holds no metadata, only settings and locks.
      rmSync(join(job.jobDir, "lvm"), { recursive: true, force: true });
      rmSync(statePath(job.jobDir), { force: true });
    },
  };
}

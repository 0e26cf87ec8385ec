// The migration form's model, apart from the page: its values (as typed),
// their defaults from the source's inventory, the CreateReplicationJob body
// they make, and the problems the shared job rules find in that body, by
// field. Text that is not a number goes to the rules as typed, so the form
// shows the very message the API would answer with.
import { checkCreateJob, type FieldIssue, JOB_LIMITS, type SourceServerDetail } from "@hoist/protocol";

export interface DataDiskRow {
  index: string;
  size: string;
  sourcePath: string;
  block: boolean;
}

export interface MountRow {
  path: string;
  block: boolean;
}

export interface MigrationForm {
  // Basic
  name: string;
  description: string;
  targetType: string;
  /** The existing ECS instance a TargetInstance job migrates onto. */
  instanceId: string;
  regionId: string;
  imageName: string;
  executionMethod: string;
  scheduledStartTime: string;
  periodic: boolean;
  frequency: string;
  imagesToKeep: string;
  netMode: string;
  vpcId: string;
  vSwitchId: string;
  verifyImage: boolean;
  // Disk partition structure
  systemDiskSize: string;
  bootMode: string;
  filesystem: string;
  lvm: boolean;
  separateBoot: boolean;
  dataDisks: DataDiskRow[];
  // Mount points (file or block, per partition)
  mounts: MountRow[];
  // Advanced
  rateLimit: string;
  compressLevel: string;
  checksum: boolean;
  ssl: string;
  parallelStreams: string;
  licenseType: string;
  instanceType: string;
  tags: string;
  validTime: string;
}

const GiB = 2 ** 30;
const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));

/** The form as it opens for a source: sizes from its inventory, the API's defaults elsewhere. */
export function defaultsFor(source: SourceServerDetail): MigrationForm {
  const inv = source.inventory;
  const L = JOB_LIMITS;
  const systemGiB = inv.systemDiskBytes > 0 ? Math.ceil(inv.systemDiskBytes / GiB) : Math.ceil(inv.usedBytes / GiB) + 5;
  return {
    name: source.name.slice(0, L.name.max),
    description: "",
    targetType: "Image",
    instanceId: "",
    regionId: "local",
    imageName: "",
    executionMethod: "Now",
    scheduledStartTime: "",
    periodic: false,
    frequency: "",
    imagesToKeep: "",
    netMode: "0",
    vpcId: "",
    vSwitchId: "",
    verifyImage: true,
    systemDiskSize: String(clamp(systemGiB, L.systemDiskGiB.min, L.systemDiskGiB.max)),
    bootMode: "auto",
    filesystem: "ext4",
    lvm: false,
    separateBoot: false,
    dataDisks: [],
    mounts: inv.mounts.map((m) => ({ path: m.mountPoint, block: false })),
    rateLimit: "0",
    compressLevel: String(L.compressLevel.default),
    checksum: false,
    ssl: "Auto",
    parallelStreams: String(L.parallelStreams.default),
    licenseType: "Aliyun",
    instanceType: "",
    tags: "",
    validTime: "",
  };
}

/** A number when the text is one, else the text itself (the rules then say what is wrong with it). */
export function numberOrText(v: string): number | string {
  const t = v.trim();
  return t !== "" && /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t;
}

/** A time typed in a datetime-local field (the browser's zone) as ISO 8601 with Z, or the text as typed. */
export function localTimeToIso(v: string): string {
  const t = v.trim();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(t)) return t;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? t : d.toISOString();
}

/** "key=value" per line into Tags; a line without "=" is a key with an empty value. */
export function parseTags(text: string): { Key: string; Value: string }[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const i = l.indexOf("=");
      return i < 0 ? { Key: l, Value: "" } : { Key: l.slice(0, i).trim(), Value: l.slice(i + 1).trim() };
    });
}

/** The CreateReplicationJob body; a field left empty is left out, so the API's default applies. */
export function toBody(sourceId: string, f: MigrationForm): Record<string, unknown> {
  const b: Record<string, unknown> = { SourceId: sourceId };
  const text = (k: string, v: string) => {
    if (v.trim() !== "") b[k] = v.trim();
  };
  const num = (k: string, v: string) => {
    if (v.trim() !== "") b[k] = numberOrText(v);
  };
  b["Name"] = f.name;
  text("Description", f.description);
  if (f.targetType !== "Image") b["TargetType"] = f.targetType;
  // The instance field shows (and counts) only for a migration onto an existing instance.
  if (f.targetType === "TargetInstance") text("InstanceId", f.instanceId);
  text("RegionId", f.regionId);
  text("ImageName", f.imageName);
  b["ExecutionMethod"] = f.executionMethod;
  if (f.executionMethod === "Scheduled" || f.scheduledStartTime.trim() !== "") b["ScheduledStartTime"] = localTimeToIso(f.scheduledStartTime);
  if (f.periodic) {
    b["RunOnce"] = false;
    num("Frequency", f.frequency);
    num("MaxNumberOfImageToKeep", f.imagesToKeep);
  }
  b["NetMode"] = numberOrText(f.netMode);
  text("VpcId", f.vpcId);
  text("VSwitchId", f.vSwitchId);
  if (!f.verifyImage) b["VerifyImage"] = false;

  num("SystemDiskSize", f.systemDiskSize);
  b["BootMode"] = f.bootMode;
  b["Filesystem"] = f.filesystem;
  if (f.lvm) b["Lvm"] = true;
  if (f.separateBoot) b["SeparateBoot"] = true;
  if (f.dataDisks.length) {
    b["DataDisks"] = f.dataDisks.map((d) => ({
      Index: numberOrText(d.index),
      ...(d.size.trim() !== "" ? { Size: numberOrText(d.size) } : {}),
      SourcePath: d.sourcePath.trim(),
      ...(d.block ? { Block: true } : {}),
    }));
  }
  // Mount points that a data disk takes are not system disk parts.
  const onDataDisks = new Set(f.dataDisks.map((d) => d.sourcePath.trim()));
  const parts = f.mounts.filter((m) => !onDataDisks.has(m.path));
  if (parts.some((m) => m.block)) b["SystemDiskParts"] = parts.map((m) => ({ Path: m.path, ...(m.block ? { Block: true } : {}) }));

  num("RateLimit", f.rateLimit);
  num("CompressLevel", f.compressLevel);
  if (f.checksum) b["Checksum"] = true;
  b["Ssl"] = f.ssl;
  num("ParallelStreams", f.parallelStreams);
  b["LicenseType"] = f.licenseType;
  text("InstanceType", f.instanceType);
  if (f.tags.trim() !== "") b["Tags"] = parseTags(f.tags);
  if (f.validTime.trim() !== "") b["ValidTime"] = localTimeToIso(f.validTime);
  return b;
}

/** Every problem the API's rules find in the form, by the API's field name. */
export function formIssues(source: SourceServerDetail, f: MigrationForm, now = new Date()): FieldIssue[] {
  // The image name's default needs the job's id, which only the server knows; a stand-in takes its place.
  return checkCreateJob(toBody(source.sourceId, f), now, { sourceId: source.sourceId, name: source.name, inventory: source.inventory }, { jobId: "j-new", regionId: "local" }).issues;
}

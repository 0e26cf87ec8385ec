// The rules of CreateReplicationJob and ModifyReplicationJobAttribute bodies,
// field by field, so each mistake answers with its own code and a fix (as SMC's
// API does) instead of one "bad body". Pure functions of the body, the clock
// and the source's inventory, with no Node.js APIs: the server checks requests
// with them and the console checks its migration form with the very same
// rules and messages. `checkCreateJob` collects every field's problem (for a
// form); `validateCreateJob` stops at the first (for the API).
import { HoistError } from "./errors";
import type { SourceInventory } from "./inventory";
import {
  CreateReplicationJobRequestSchema,
  ECS_INSTANCE_ID,
  EXECUTION_METHODS,
  type ExecutionMethod,
  JOB_LIMITS,
  ModifyReplicationJobRequestSchema,
  type ReplicationJobSettings,
  TARGET_TYPES,
  type TargetType,
} from "./replication-job";

type Body = Record<string, unknown>;

export interface NewReplicationJob {
  name: string;
  description: string;
  settings: ReplicationJobSettings;
}

/** What a job is created for: its source as the store read it. */
export interface JobSource {
  sourceId: string;
  name: string;
  inventory: SourceInventory;
}

export interface CreateDefaults {
  jobId: string;
  /** The server's region (`hoist server --region`), used when the body names none. */
  regionId: string;
  /** The TargetTypes the server's provider can carry out (default: all of them, as a form without a server checks). */
  targetTypes?: readonly TargetType[];
  /** The server's provider by name ("local", "alibaba"), for the message refusing a TargetType it cannot carry out. */
  provider?: string;
}

/** The fields ModifyReplicationJobAttribute may change, checked. */
export interface JobChanges {
  Name?: string;
  Description?: string;
  RateLimit?: number;
  CompressLevel?: number;
  Checksum?: boolean;
  Frequency?: number;
  MaxNumberOfImageToKeep?: number;
  ValidTime?: string;
  Tags?: { Key: string; Value: string }[];
}

const CREATE_FIELDS = Object.keys(CreateReplicationJobRequestSchema.shape);
const MODIFY_FIELDS = Object.keys(ModifyReplicationJobRequestSchema.shape);

/** Every code validateCreateJob can answer with, for the OpenAPI document. */
export const CREATE_ERROR_CODES = [
  "Api.InvalidBody",
  "ReplicationJob.InvalidName",
  "ReplicationJob.InvalidDescription",
  "ReplicationJob.InvalidTargetType",
  "ReplicationJob.UnsupportedTargetType",
  "ReplicationJob.InvalidInstanceId",
  "ReplicationJob.InvalidRegionId",
  "ReplicationJob.InvalidImageName",
  "ReplicationJob.InvalidSystemDiskSize",
  "ReplicationJob.InvalidSystemDiskParts",
  "ReplicationJob.InvalidDataDisks",
  "ReplicationJob.BlockReplicationUnavailable",
  "ReplicationJob.BlockWithLvm",
  "ReplicationJob.BlockRootWithOtherPartitions",
  "ReplicationJob.InvalidBootMode",
  "ReplicationJob.InvalidFilesystem",
  "ReplicationJob.InvalidSeparateBoot",
  "ReplicationJob.InvalidLvm",
  "ReplicationJob.InvalidNetMode",
  "ReplicationJob.InvalidVpcId",
  "ReplicationJob.InvalidVSwitchId",
  "ReplicationJob.MissingVSwitch",
  "ReplicationJob.InvalidRateLimit",
  "ReplicationJob.InvalidCompressLevel",
  "ReplicationJob.InvalidChecksum",
  "ReplicationJob.InvalidSsl",
  "ReplicationJob.InvalidParallelStreams",
  "ReplicationJob.InvalidLicenseType",
  "ReplicationJob.InvalidInstanceType",
  "ReplicationJob.InvalidTags",
  "ReplicationJob.InvalidRunOnce",
  "ReplicationJob.InvalidFrequency",
  "ReplicationJob.InvalidMaxNumberOfImageToKeep",
  "ReplicationJob.InvalidExecutionMethod",
  "ReplicationJob.InvalidScheduledStartTime",
  "ReplicationJob.InvalidValidTime",
  "ReplicationJob.InvalidVerifyImage",
] as const;

export const MODIFY_ERROR_CODES = [
  "Api.InvalidBody",
  "ReplicationJob.InvalidName",
  "ReplicationJob.InvalidDescription",
  "ReplicationJob.InvalidRateLimit",
  "ReplicationJob.InvalidCompressLevel",
  "ReplicationJob.InvalidChecksum",
  "ReplicationJob.InvalidFrequency",
  "ReplicationJob.InvalidMaxNumberOfImageToKeep",
  "ReplicationJob.InvalidValidTime",
  "ReplicationJob.InvalidTags",
] as const;

function invalid(field: string, message: string, fix: string, code = `ReplicationJob.Invalid${field}`): HoistError {
  return new HoistError(code, message, { fix });
}

/** A value as a message shows it: JSON, cut short so a huge one does not fill the answer. */
const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 100 ? `${s.slice(0, 97)}... (${s.length} characters)` : s;
};

function whole(v: unknown, range: { min: number; max: number }): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= range.min && v <= range.max;
}

const CONTROL = /[\u0000-\u001f\u007f]/;

/** The body as an object with only known fields; anything else is Api.InvalidBody. */
function objectBody(body: unknown, fields: readonly string[]): Body {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HoistError("Api.InvalidBody", "the body must be a JSON object", { fix: "Send the job's fields as a JSON object (see /v1/openapi.json)." });
  }
  const unknown = Object.keys(body).filter((k) => !fields.includes(k));
  if (unknown.length) {
    throw new HoistError("Api.InvalidBody", `unknown field(s): ${unknown.join(", ")}`, { fix: `Field names are case-sensitive; this request takes ${fields.join(", ")}.` });
  }
  return body as Body;
}

/** The SourceId of a CreateReplicationJob body (checked before the source is looked up). */
export function sourceIdOf(body: unknown): string {
  const b = objectBody(body, CREATE_FIELDS);
  const id = b["SourceId"];
  if (typeof id !== "string" || id.length === 0 || id.length > 64) {
    throw new HoistError("Api.InvalidBody", id === undefined ? "SourceId is required" : `SourceId must be a source's id (got ${show(id)})`, {
      fix: "Pass the SourceId of an imported source (GET /v1/sources lists them).",
    });
  }
  return id;
}

// --- Fields shared by create and modify.

export function checkName(v: unknown): string {
  const L = JOB_LIMITS.name;
  if (typeof v !== "string" || v.trim().length < L.min || v.length > L.max || CONTROL.test(v) || /^https?:\/\//i.test(v)) {
    throw invalid("Name", `Name must be text of ${L.min}–${L.max} characters, without control characters, not starting with http:// or https:// (got ${show(v)})`, "Pick a short name for the job.");
  }
  return v.trim();
}

export function checkDescription(v: unknown): string {
  if (typeof v !== "string" || v.length > JOB_LIMITS.descriptionMax || /^https?:\/\//i.test(v)) {
    throw invalid("Description", `Description must be text of at most ${JOB_LIMITS.descriptionMax} characters, not starting with http:// or https://`, "Shorten the description.");
  }
  return v;
}

export function checkRateLimit(v: unknown): number {
  const L = JOB_LIMITS.rateLimitMbps;
  if (!whole(v, L)) throw invalid("RateLimit", `RateLimit must be a whole number of Mbit/s from ${L.min} to ${L.max} (got ${show(v)})`, "Pass the bandwidth cap in Mbit/s; 0 means no limit.");
  return v;
}

export function checkCompressLevel(v: unknown): number {
  const L = JOB_LIMITS.compressLevel;
  if (!whole(v, L)) {
    throw invalid("CompressLevel", `CompressLevel must be a whole number from ${L.min} to ${L.max} (got ${show(v)})`, `Pass ${L.min} (no compression) to ${L.max}; the default is ${L.default}.`);
  }
  return v;
}

function checkBoolean(field: string, v: unknown): boolean {
  if (typeof v !== "boolean") throw invalid(field, `${field} must be true or false (got ${show(v)})`, `Pass ${field}: true or false, or leave it out.`);
  return v;
}

export function checkFrequency(v: unknown): number {
  const L = JOB_LIMITS.frequencyHours;
  if (!whole(v, L)) throw invalid("Frequency", `Frequency must be a whole number of hours from ${L.min} to ${L.max} (got ${show(v)})`, `Pass how many hours apart the incremental syncs run, ${L.min}–${L.max}.`);
  return v;
}

export function checkImagesToKeep(v: unknown): number {
  const L = JOB_LIMITS.imagesToKeep;
  if (!whole(v, L)) {
    throw invalid("MaxNumberOfImageToKeep", `MaxNumberOfImageToKeep must be a whole number from ${L.min} to ${L.max} (got ${show(v)})`, `Pass how many of the periodic job's images to keep, ${L.min}–${L.max}.`);
  }
  return v;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** An ISO 8601 time with its zone (2026-05-01T08:00:00Z), or undefined when it is not one. */
function parseTime(v: unknown): Date | undefined {
  if (typeof v !== "string" || !ISO.test(v)) return undefined;
  const t = new Date(v);
  return Number.isNaN(t.getTime()) ? undefined : t;
}

export function checkValidTime(v: unknown, now: Date): string {
  const t = parseTime(v);
  if (!t) throw invalid("ValidTime", `ValidTime must be an ISO 8601 time with a zone, e.g. 2030-01-31T00:00:00Z (got ${show(v)})`, "Pass when the job stops being valid, in UTC with a Z.");
  if (t.getTime() <= now.getTime()) throw invalid("ValidTime", `ValidTime ${v} has already passed`, "Pass a time in the future, or leave ValidTime out for a job that never expires.");
  return t.toISOString();
}

export function checkTags(v: unknown): { Key: string; Value: string }[] {
  const fix = `Pass up to ${JOB_LIMITS.tags} tags as [{ "Key": "...", "Value": "..." }]; keys are 1–${JOB_LIMITS.tagKeyMax} characters, unique, not starting with "aliyun" or "acs:".`;
  if (!Array.isArray(v)) throw invalid("Tags", "Tags must be a list of { Key, Value }", fix);
  if (v.length > JOB_LIMITS.tags) throw invalid("Tags", `Tags lists at most ${JOB_LIMITS.tags} tags (got ${v.length})`, fix);
  const seen = new Set<string>();
  return v.map((tag: unknown, i) => {
    if (typeof tag !== "object" || tag === null || Array.isArray(tag)) throw invalid("Tags", `Tags[${i}] must be an object { Key, Value }`, fix);
    const extra = Object.keys(tag).filter((k) => k !== "Key" && k !== "Value");
    if (extra.length) throw invalid("Tags", `Tags[${i}] has unknown field(s): ${extra.join(", ")}`, fix);
    const { Key: key, Value: value = "" } = tag as { Key?: unknown; Value?: unknown };
    if (typeof key !== "string" || key.length < 1 || key.length > JOB_LIMITS.tagKeyMax || CONTROL.test(key)) {
      throw invalid("Tags", `Tags[${i}].Key must be text of 1–${JOB_LIMITS.tagKeyMax} characters (got ${show(key)})`, fix);
    }
    const lower = key.toLowerCase();
    if (lower.startsWith("aliyun") || lower.startsWith("acs:") || lower.includes("http://") || lower.includes("https://")) {
      throw invalid("Tags", `Tags[${i}].Key "${key}" starts with a reserved prefix or holds a URL`, fix);
    }
    if (seen.has(key)) throw invalid("Tags", `Tags has the key "${key}" twice`, fix);
    seen.add(key);
    if (typeof value !== "string" || value.length > JOB_LIMITS.tagValueMax || CONTROL.test(value)) {
      throw invalid("Tags", `Tags[${i}].Value must be text of at most ${JOB_LIMITS.tagValueMax} characters (got ${show(value)})`, fix);
    }
    return { Key: key, Value: value };
  });
}

// --- Create only.

function checkEnum<T extends string>(field: string, v: unknown, allowed: readonly T[], fallback: T, opts: { caseless?: boolean } = {}): T {
  if (v === undefined) return fallback;
  const found = allowed.find((a) => a === v || (opts.caseless && typeof v === "string" && a.toLowerCase() === v.toLowerCase()));
  if (found === undefined) throw invalid(field, `${field} must be one of ${allowed.join(", ")} (got ${show(v)})`, `Pass ${allowed.join(" or ")}, or leave ${field} out for ${fallback}.`);
  return found;
}

/** A folder on the source: absolute and written the short way (no "..", ".", "//" or trailing "/"). */
export function isCleanAbsolute(p: string): boolean {
  if (!p.startsWith("/") || CONTROL.test(p)) return false;
  return p === "/" || p.slice(1).split("/").every((s) => s !== "" && s !== "." && s !== "..");
}

const inside = (child: string, parent: string): boolean => child === parent || child.startsWith(parent === "/" ? "/" : `${parent}/`);

const VIRTUAL = ["/proc", "/sys", "/dev"];

function checkDataDisks(v: unknown): ReplicationJobSettings["DataDisks"] {
  const fix = `Pass up to ${JOB_LIMITS.dataDisks} disks as { "Index": 1–16, "Size": GiB ${JOB_LIMITS.dataDiskGiB.min}–${JOB_LIMITS.dataDiskGiB.max}, "SourcePath": "/data" }, each Index and folder once.`;
  if (!Array.isArray(v)) throw invalid("DataDisks", "DataDisks must be a list of { Index, Size, SourcePath }", fix);
  if (v.length > JOB_LIMITS.dataDisks) throw invalid("DataDisks", `DataDisks lists at most ${JOB_LIMITS.dataDisks} data disks (got ${v.length})`, fix);
  const disks = v.map((d: unknown, i) => {
    if (typeof d !== "object" || d === null || Array.isArray(d)) throw invalid("DataDisks", `DataDisks[${i}] must be an object`, fix);
    const extra = Object.keys(d).filter((k) => !["Index", "Size", "SourcePath", "Block"].includes(k));
    if (extra.length) throw invalid("DataDisks", `DataDisks[${i}] has unknown field(s): ${extra.join(", ")}`, fix);
    const { Index: index, Size: size, SourcePath: path, Block: block } = d as Record<string, unknown>;
    if (!whole(index, { min: 1, max: JOB_LIMITS.dataDisks })) throw invalid("DataDisks", `DataDisks[${i}].Index must be a whole number from 1 to ${JOB_LIMITS.dataDisks} (got ${show(index)})`, fix);
    if (size !== undefined && !whole(size, JOB_LIMITS.dataDiskGiB)) {
      throw invalid("DataDisks", `DataDisks[${i}].Size must be a whole number of GiB from ${JOB_LIMITS.dataDiskGiB.min} to ${JOB_LIMITS.dataDiskGiB.max} (got ${show(size)})`, fix);
    }
    if (typeof path !== "string" || path.length > JOB_LIMITS.sourcePathMax || !isCleanAbsolute(path)) {
      throw invalid("DataDisks", `DataDisks[${i}].SourcePath must be an absolute folder of at most ${JOB_LIMITS.sourcePathMax} characters written without "..", "." or a trailing "/" (got ${show(path)})`, fix);
    }
    if (path === "/") throw invalid("DataDisks", `DataDisks[${i}].SourcePath cannot be "/": the root is the system disk`, fix);
    if (VIRTUAL.some((p) => inside(path, p))) throw invalid("DataDisks", `DataDisks[${i}].SourcePath ${path} is a virtual filesystem, not data`, fix);
    if (block !== undefined && typeof block !== "boolean") throw invalid("DataDisks", `DataDisks[${i}].Block must be true or false`, fix);
    return { Index: index, Size: size === undefined ? null : size, SourcePath: path, Block: block === true };
  });
  for (const [i, a] of disks.entries()) {
    for (const b of disks.slice(i + 1)) {
      if (a.Index === b.Index) throw invalid("DataDisks", `two data disks have Index ${a.Index}`, fix);
      if (inside(a.SourcePath, b.SourcePath) || inside(b.SourcePath, a.SourcePath)) {
        throw invalid("DataDisks", `data disk folders ${a.SourcePath} and ${b.SourcePath} overlap: one is inside the other`, "Give each data disk its own folder, none inside another.");
      }
    }
  }
  return disks;
}

function blockUnavailable(where: string, path: string): HoistError {
  return new HoistError("ReplicationJob.BlockReplicationUnavailable", `${where} asks for block-level replication of ${path}; on the system disk only / can be copied by block`, {
    fix: "Leave Block out (or false) here. / (when it is a partition of its own) and a data disk whose SourcePath is a partition of its own can be copied by block.",
  });
}

function checkSystemDiskParts(v: unknown, inventory: SourceInventory, dataDisks: ReplicationJobSettings["DataDisks"]): ReplicationJobSettings["SystemDiskParts"] {
  const mounts = inventory.mounts.map((m) => m.mountPoint);
  const fix = `Pass mount points of the source as { "Path": "/boot" }; the source has ${mounts.length ? mounts.join(", ") : "no mount points in its inventory"}.`;
  if (!Array.isArray(v)) throw invalid("SystemDiskParts", "SystemDiskParts must be a list of { Path, Block }", fix);
  if (v.length > JOB_LIMITS.systemDiskParts) throw invalid("SystemDiskParts", `SystemDiskParts lists at most ${JOB_LIMITS.systemDiskParts} mount points (got ${v.length})`, fix);
  const seen = new Set<string>();
  return v.map((p: unknown, i) => {
    if (typeof p !== "object" || p === null || Array.isArray(p)) throw invalid("SystemDiskParts", `SystemDiskParts[${i}] must be an object`, fix);
    const extra = Object.keys(p).filter((k) => k !== "Path" && k !== "Block");
    if (extra.length) throw invalid("SystemDiskParts", `SystemDiskParts[${i}] has unknown field(s): ${extra.join(", ")}`, fix);
    const { Path: path, Block: block } = p as Record<string, unknown>;
    if (typeof path !== "string" || !mounts.includes(path)) throw invalid("SystemDiskParts", `SystemDiskParts[${i}].Path ${show(path)} is not a mount point of the source`, fix);
    if (seen.has(path)) throw invalid("SystemDiskParts", `SystemDiskParts names ${path} twice`, fix);
    seen.add(path);
    const disk = dataDisks.find((d) => d.SourcePath === path);
    if (disk) throw invalid("SystemDiskParts", `${path} goes to data disk ${disk.Index}, not the system disk`, "List a folder either as a data disk's SourcePath or as a system disk part, not both.");
    if (block !== undefined && typeof block !== "boolean") throw invalid("SystemDiskParts", `SystemDiskParts[${i}].Block must be true or false`, fix);
    if (block === true && path !== "/") throw blockUnavailable(`SystemDiskParts[${i}]`, path);
    return { Path: path, Block: block === true };
  });
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** One field's problem: the field it belongs to (a form shows it there) and the error the API answers. */
export interface FieldIssue {
  field: string;
  error: HoistError;
}

export interface CheckResult<T> {
  /** Null when there are issues. */
  value: T | null;
  /** Every problem, in the order the API checks them (the API answers with the first). */
  issues: FieldIssue[];
}

/** Runs checks one field at a time, noting each failure and going on with a stand-in value. */
function collector() {
  const issues: FieldIssue[] = [];
  const take = <T>(field: string, check: () => T, standIn: T): T => {
    try {
      return check();
    } catch (e) {
      if (!(e instanceof HoistError)) throw e;
      issues.push({ field, error: e });
      return standIn;
    }
  };
  return { issues, take };
}

/**
 * Checks a CreateReplicationJob body against the source it names and fills in
 * the defaults. `now` is the request's time (scheduled starts and ValidTime
 * are measured from it). Every field is checked, so a form can show all its
 * problems at once; the first issue is the one the API answers with.
 */
export function checkCreateJob(body: unknown, now: Date, source: JobSource, defaults: CreateDefaults): CheckResult<NewReplicationJob> {
  const { issues, take } = collector();
  const b = take("body", () => objectBody(body, CREATE_FIELDS), null);
  if (b === null) return { value: null, issues };
  const has = (k: string) => b[k] !== undefined;
  const name = has("Name") ? take("Name", () => checkName(b["Name"]), "") : source.name.slice(0, JOB_LIMITS.name.max);
  const description = has("Description") ? take("Description", () => checkDescription(b["Description"]), "") : "";

  // SMC's TargetType: a new image, or an existing ECS instance (InstanceId) that takes the copy once.
  const wanted = has("TargetType") ? b["TargetType"] : "Image";
  const targetFix = 'Pass TargetType "Image" (or leave it out) to make an image, or "TargetInstance" with InstanceId to migrate onto an existing ECS instance.';
  const targetType = take(
    "TargetType",
    (): TargetType => {
      if (wanted === "ContainerImage") {
        throw new HoistError("ReplicationJob.UnsupportedTargetType", "TargetType ContainerImage is not supported: jobs make images or migrate onto an existing ECS instance", { fix: targetFix });
      }
      const known = TARGET_TYPES.find((t) => t === wanted);
      if (known === undefined) throw invalid("TargetType", `TargetType must be "Image" or "TargetInstance" (got ${show(wanted)})`, targetFix);
      if (!(defaults.targetTypes ?? TARGET_TYPES).includes(known)) {
        const who = defaults.provider ? `the ${defaults.provider} provider makes images only` : "this server has no provider that migrates onto instances";
        throw new HoistError("ReplicationJob.UnsupportedTargetType", `TargetType ${known} needs a cloud with instances to migrate onto, and ${who}`, {
          fix: 'Start hoist server --provider alibaba to migrate onto an existing ECS instance, or pass TargetType "Image" (or leave it out) to make an image.',
        });
      }
      return known;
    },
    wanted === "TargetInstance" ? "TargetInstance" : "Image",
  );
  const instanceFix = "Pass InstanceId: the id of the existing ECS instance to migrate onto, such as i-bp1abcd2efgh3ijk4lmn (its data is erased; it keeps running as your server).";
  const instanceId = take(
    "InstanceId",
    (): string | null => {
      const v = b["InstanceId"];
      if (wanted === "Image" && has("InstanceId")) {
        throw invalid("InstanceId", 'InstanceId goes only with TargetType "TargetInstance": an image job makes a new image and touches no instance', 'Pass TargetType "TargetInstance" to migrate onto that instance, or leave InstanceId out to make an image.');
      }
      if (wanted === "TargetInstance" && !has("InstanceId")) throw invalid("InstanceId", 'TargetType "TargetInstance" needs InstanceId: the existing ECS instance to migrate onto', instanceFix);
      if (!has("InstanceId")) return null;
      if (typeof v !== "string" || !ECS_INSTANCE_ID.test(v)) throw invalid("InstanceId", `InstanceId must be an ECS instance id such as i-bp1abcd2efgh3ijk4lmn (got ${show(v)})`, instanceFix);
      return v;
    },
    null,
  );

  const regionId = take(
    "RegionId",
    () => {
      const v = has("RegionId") ? b["RegionId"] : defaults.regionId;
      if (typeof v !== "string" || !/^[a-z][a-z0-9-]{0,63}$/.test(v)) {
        throw invalid("RegionId", `RegionId must be a region id such as cn-hangzhou or local (got ${show(v)})`, `Pass the region the image goes to, or leave RegionId out for ${defaults.regionId}.`);
      }
      return v;
    },
    defaults.regionId,
  );

  const L = JOB_LIMITS;
  const imageName = take(
    "ImageName",
    () => {
      const v = has("ImageName") ? b["ImageName"] : `hoist-${defaults.jobId}`;
      if (typeof v !== "string" || v.length < L.imageName.min || v.length > L.imageName.max || !/^[A-Za-z][A-Za-z0-9._-]*$/.test(v)) {
        throw invalid("ImageName", `ImageName must be ${L.imageName.min}–${L.imageName.max} letters, digits, ".", "_" or "-", starting with a letter (got ${show(v)})`, "Pick another image name, or leave ImageName out for hoist-<JobId>.");
      }
      return v;
    },
    "",
  );

  const systemDiskSize = take(
    "SystemDiskSize",
    (): number | null => {
      if (!has("SystemDiskSize")) return null;
      const v = b["SystemDiskSize"];
      if (!whole(v, L.systemDiskGiB)) {
        throw invalid("SystemDiskSize", `SystemDiskSize must be a whole number of GiB from ${L.systemDiskGiB.min} to ${L.systemDiskGiB.max} (got ${show(v)})`, "Pass the target system disk's size in GiB, or leave it out to size it from the source.");
      }
      return v;
    },
    null,
  );

  const dataDisks = has("DataDisks") ? take("DataDisks", () => checkDataDisks(b["DataDisks"]), []) : [];
  take(
    "SystemDiskSize",
    () => {
      // With no data disk, everything used on the source lands on the system disk.
      if (systemDiskSize !== null && dataDisks.length === 0 && !issues.some((i) => i.field === "DataDisks") && systemDiskSize * 2 ** 30 < source.inventory.usedBytes) {
        const need = Math.ceil(source.inventory.usedBytes / 2 ** 30);
        throw invalid("SystemDiskSize", `SystemDiskSize ${systemDiskSize} GiB is smaller than the ${need} GiB the source uses`, `Pass at least ${Math.max(need, L.systemDiskGiB.min)} GiB, or move folders to data disks.`);
      }
    },
    undefined,
  );
  const systemDiskParts = has("SystemDiskParts") ? take("SystemDiskParts", () => checkSystemDiskParts(b["SystemDiskParts"], source.inventory, dataDisks), []) : [];

  const bootMode = take("BootMode", () => checkEnum("BootMode", b["BootMode"], ["auto", "bios", "uefi"] as const, "auto", { caseless: true }), "auto");
  const filesystem = take("Filesystem", () => checkEnum("Filesystem", b["Filesystem"], ["ext4", "xfs"] as const, "ext4"), "ext4");
  const separateBoot = has("SeparateBoot") ? take("SeparateBoot", () => checkBoolean("SeparateBoot", b["SeparateBoot"]), false) : false;
  const lvm = has("Lvm") ? take("Lvm", () => checkBoolean("Lvm", b["Lvm"]), false) : false;
  if (systemDiskParts.some((p) => p.Block)) {
    // A block copy keeps / as the system disk's one partition: no /boot or ESP beside it, no LVM.
    const reason = lvm
      ? "Lvm is on"
      : separateBoot
        ? "SeparateBoot is on"
        : bootMode === "uefi" || (bootMode === "auto" && source.inventory.bootMode === "uefi")
          ? "the image would boot by UEFI, which needs an EFI partition beside /"
          : null;
    if (reason) {
      issues.push({
        field: "SystemDiskParts",
        error: new HoistError("ReplicationJob.BlockRootWithOtherPartitions", `/ is copied by block, so it must stay the system disk's only partition, but ${reason}`, {
          fix: "Copy / by file (Block false), or turn Lvm and SeparateBoot off and boot by BIOS (BootMode bios).",
        }),
      });
    }
  }
  if (lvm && dataDisks.some((d) => d.Block)) {
    issues.push({
      field: "Lvm",
      error: new HoistError("ReplicationJob.BlockWithLvm", "a data disk copied by block keeps its partition as it is, so it cannot be laid out again as LVM", {
        fix: "Turn Lvm off, or copy every data disk by file (Block false).",
      }),
    });
  }

  const netMode = take(
    "NetMode",
    (): 0 | 2 => {
      const v = has("NetMode") ? b["NetMode"] : 0;
      if (v !== 0 && v !== 2) throw invalid("NetMode", `NetMode must be 0 (public network) or 2 (VPC) (got ${show(v)})`, "Pass 0, or 2 with VpcId and VSwitchId.");
      return v;
    },
    0,
  );
  const ids: Record<"VpcId" | "VSwitchId", string | null> = { VpcId: null, VSwitchId: null };
  for (const k of ["VpcId", "VSwitchId"] as const) {
    if (!has(k)) continue;
    ids[k] = take(
      k,
      () => {
        const v = b[k];
        if (typeof v !== "string" || !ID.test(v)) throw invalid(k, `${k} must be an id of letters, digits, "_" and "-" (got ${show(v)})`, `Pass the ${k === "VpcId" ? "VPC" : "vSwitch"}'s id.`);
        return v;
      },
      null,
    );
  }
  take(
    has("VpcId") ? "VSwitchId" : "VpcId",
    () => {
      if (netMode === 2 && (!has("VpcId") || !has("VSwitchId"))) {
        throw new HoistError("ReplicationJob.MissingVSwitch", "NetMode 2 (VPC) needs both VpcId and VSwitchId", { fix: "Pass the VPC's VpcId and a VSwitchId in it, or NetMode 0." });
      }
    },
    undefined,
  );

  const rateLimit = has("RateLimit") ? take("RateLimit", () => checkRateLimit(b["RateLimit"]), 0) : 0;
  const compressLevel = has("CompressLevel") ? take("CompressLevel", () => checkCompressLevel(b["CompressLevel"]), L.compressLevel.default) : L.compressLevel.default;
  const checksum = has("Checksum") ? take("Checksum", () => checkBoolean("Checksum", b["Checksum"]), false) : false;
  const ssl = take(
    "Ssl",
    () => {
      if (b["Ssl"] === "Off") throw invalid("Ssl", 'Ssl "Off" is not offered: data always travels in TLS', 'Pass "Auto" or "On", or leave Ssl out.');
      return checkEnum("Ssl", b["Ssl"], ["Auto", "On"] as const, "Auto");
    },
    "Auto",
  );
  const streams = take(
    "ParallelStreams",
    (): number => {
      if (!has("ParallelStreams")) return L.parallelStreams.default;
      const v = b["ParallelStreams"];
      if (!whole(v, L.parallelStreams)) {
        throw invalid("ParallelStreams", `ParallelStreams must be a whole number from ${L.parallelStreams.min} to ${L.parallelStreams.max} (got ${show(v)})`, `Pass how many copies run at once; the default is ${L.parallelStreams.default}.`);
      }
      return v;
    },
    L.parallelStreams.default,
  );
  const licenseType = take("LicenseType", () => checkEnum("LicenseType", b["LicenseType"], ["Aliyun", "BYOL"] as const, "Aliyun"), "Aliyun");
  const instanceType = take(
    "InstanceType",
    (): string | null => {
      if (!has("InstanceType")) return null;
      const v = b["InstanceType"];
      if (wanted === "TargetInstance") {
        throw invalid("InstanceType", "InstanceType is the intermediate instance's type, and a TargetInstance job starts none: the destination instance serves as the intermediate instance", "Leave InstanceType out.");
      }
      if (typeof v !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(v)) {
        throw invalid("InstanceType", `InstanceType must be an instance type such as ecs.g6.large (got ${show(v)})`, "Pass an instance type for the intermediate instance, or leave it out.");
      }
      return v;
    },
    null,
  );
  const tags = has("Tags") ? take("Tags", () => checkTags(b["Tags"]), []) : [];

  const runOnce = has("RunOnce") ? take("RunOnce", () => checkBoolean("RunOnce", b["RunOnce"]), true) : true;
  let frequency: number | null = null;
  let keep: number | null = null;
  if (wanted === "TargetInstance" && !runOnce) {
    // Frequency and MaxNumberOfImageToKeep have nothing to add to this.
    issues.push({
      field: "RunOnce",
      error: invalid("RunOnce", "a TargetInstance job runs once: a destination instance takes one migration, while RunOnce false syncs again every Frequency hours", 'Leave RunOnce out (or true) to migrate onto the instance once, or pass TargetType "Image" for periodic syncs into images.'),
    });
  } else if (runOnce) {
    if (has("Frequency")) {
      take("Frequency", () => {
        throw invalid("Frequency", "Frequency is for periodic jobs (RunOnce false)", "Leave Frequency out, or pass RunOnce: false for an incremental sync every Frequency hours.");
      }, undefined);
    }
    if (has("MaxNumberOfImageToKeep")) {
      take("MaxNumberOfImageToKeep", () => {
        throw invalid("MaxNumberOfImageToKeep", "MaxNumberOfImageToKeep is for periodic jobs (RunOnce false)", "Leave it out, or pass RunOnce: false with a Frequency.");
      }, undefined);
    }
  } else {
    frequency = take(
      "Frequency",
      () => {
        if (!has("Frequency")) {
          throw invalid("Frequency", "a periodic job (RunOnce false) needs Frequency", `Pass Frequency: hours between syncs, ${L.frequencyHours.min}–${L.frequencyHours.max}.`);
        }
        return checkFrequency(b["Frequency"]);
      },
      null,
    );
    keep = has("MaxNumberOfImageToKeep") ? take("MaxNumberOfImageToKeep", () => checkImagesToKeep(b["MaxNumberOfImageToKeep"]), null) : 1;
  }

  const method = take("ExecutionMethod", () => checkEnum<ExecutionMethod>("ExecutionMethod", b["ExecutionMethod"], EXECUTION_METHODS, "Now"), "Now");
  const validTime = has("ValidTime") ? take("ValidTime", () => checkValidTime(b["ValidTime"], now), null) : null;
  const scheduled = take(
    "ScheduledStartTime",
    (): string | null => {
      if (method === "Scheduled") {
        const raw = b["ScheduledStartTime"];
        const at = parseTime(raw);
        const lead = L.scheduleLeadMinutes;
        if (!at) {
          throw invalid("ScheduledStartTime", raw === undefined ? 'ExecutionMethod "Scheduled" needs ScheduledStartTime' : `ScheduledStartTime must be an ISO 8601 time with a zone (got ${show(raw)})`, `Pass a time at least ${lead} minutes ahead, e.g. 2030-01-31T02:00:00Z.`);
        }
        if (at.getTime() < now.getTime() + lead * 60_000) {
          throw invalid("ScheduledStartTime", `ScheduledStartTime ${raw} is less than ${lead} minutes ahead`, `Pass a time at least ${lead} minutes from now, or ExecutionMethod "Now".`);
        }
        if (validTime !== null && at.getTime() >= new Date(validTime).getTime()) {
          throw invalid("ScheduledStartTime", `ScheduledStartTime ${raw} is not before ValidTime ${validTime}`, "Schedule the start before the job's ValidTime, or move ValidTime later.");
        }
        return at.toISOString();
      }
      if (has("ScheduledStartTime")) {
        throw invalid("ScheduledStartTime", `ScheduledStartTime goes only with ExecutionMethod "Scheduled" (this one is "${method}")`, 'Pass ExecutionMethod "Scheduled", or leave ScheduledStartTime out.');
      }
      return null;
    },
    null,
  );
  const verify = has("VerifyImage") ? take("VerifyImage", () => checkBoolean("VerifyImage", b["VerifyImage"]), true) : true;

  if (issues.length) return { value: null, issues };
  return {
    issues,
    value: {
      name,
      description,
      settings: {
        TargetType: targetType,
        InstanceId: instanceId,
        RegionId: regionId,
        ImageName: imageName,
        SystemDiskSize: systemDiskSize,
        SystemDiskParts: systemDiskParts,
        DataDisks: dataDisks,
        BootMode: bootMode,
        Filesystem: filesystem,
        SeparateBoot: separateBoot,
        Lvm: lvm,
        NetMode: netMode,
        VpcId: ids.VpcId,
        VSwitchId: ids.VSwitchId,
        RateLimit: rateLimit,
        CompressLevel: compressLevel,
        Checksum: checksum,
        Ssl: ssl,
        ParallelStreams: streams,
        LicenseType: licenseType,
        InstanceType: instanceType,
        Tags: tags,
        RunOnce: runOnce,
        Frequency: frequency,
        MaxNumberOfImageToKeep: keep,
        ExecutionMethod: method,
        ScheduledStartTime: scheduled,
        ValidTime: validTime,
        VerifyImage: verify,
      },
    },
  };
}

/** The API's check: the first problem (in checkCreateJob's order) is thrown. */
export function validateCreateJob(body: unknown, now: Date, source: JobSource, defaults: CreateDefaults): NewReplicationJob {
  const r = checkCreateJob(body, now, source, defaults);
  if (r.issues[0]) throw r.issues[0].error;
  return r.value as NewReplicationJob;
}

/** Checks a ModifyReplicationJobAttribute body field by field; whether the job's Status allows each change is the store's call. */
export function checkModifyJob(body: unknown, now: Date): CheckResult<JobChanges> {
  const { issues, take } = collector();
  const b = take("body", () => objectBody(body, MODIFY_FIELDS), null);
  if (b === null) return { value: null, issues };
  const has = (k: string) => b[k] !== undefined;
  const changes: JobChanges = {};
  const field = <K extends keyof JobChanges>(k: K, check: (v: unknown) => JobChanges[K]) => {
    if (!has(k)) return;
    const v = take(k, () => check(b[k]), undefined);
    if (v !== undefined) changes[k] = v;
  };
  field("Name", checkName);
  field("Description", checkDescription);
  field("RateLimit", checkRateLimit);
  field("CompressLevel", checkCompressLevel);
  field("Checksum", (v) => checkBoolean("Checksum", v));
  field("Frequency", checkFrequency);
  field("MaxNumberOfImageToKeep", checkImagesToKeep);
  field("ValidTime", (v) => checkValidTime(v, now));
  field("Tags", checkTags);
  if (issues.length) return { value: null, issues };
  if (Object.keys(changes).length === 0) {
    issues.push({
      field: "body",
      error: new HoistError("Api.InvalidBody", "nothing to change: the body names none of the job's changeable fields", { fix: `Pass one or more of ${MODIFY_FIELDS.join(", ")}.` }),
    });
    return { value: null, issues };
  }
  return { value: changes, issues };
}

/** The API's check of a modify body: the first problem is thrown. */
export function validateModifyJob(body: unknown, now: Date): JobChanges {
  const r = checkModifyJob(body, now);
  if (r.issues[0]) throw r.issues[0].error;
  return r.value as JobChanges;
}

// user_config.json: the settings file of a one-shot migration, field for field
// compatible with go2aliyun_client's, plus a few Hoist extras. Every field is
// checked on its own so a user sees all their mistakes in one run, each with a
// stable code, the field, the value given and what is allowed.
//
// Hoist's extras (all optional):
//   compression_level  0–10, default 7: rsync compression on the wire (0 = off)
//   checksum           boolean, default false: compare file checksums, not only size and time
//   parallel_streams   1–16, default 4: rsync streams run side by side
//   boot_mode          "auto" | "bios" | "uefi", default "auto": how the image boots
//   filesystem         "ext4" | "xfs", default "ext4": filesystem made on each target disk
//   lvm                boolean, default false: rebuild each target disk as one PV, VG vgX and an LV per mount point
//   separate_boot      boolean, default false: a separate /boot partition on the system disk (LVM needs one)
//   block_replication  mount points copied by block, not by file: "/" and/or data disk src_paths, default []
import { z } from "zod";

export const PLATFORMS = [
  "Windows Server 2003",
  "Windows Server 2008",
  "Windows Server 2012",
  "Windows Server 2016",
  "CentOS",
  "Ubuntu",
  "SUSE",
  "OpenSUSE",
  "Debian",
  "RedHat",
  "Others Linux",
] as const;
export const ARCHITECTURES = ["i386", "x86_64"] as const;
export const BOOT_MODES = ["auto", "bios", "uefi"] as const;
export const TARGET_FILESYSTEMS = ["ext4", "xfs"] as const;

export const SYSTEM_DISK_SIZE_GIB = { min: 20, max: 500 } as const;
export const DATA_DISK_SIZE_GIB = { min: 20, max: 32768 } as const;
export const DATA_DISK_INDEX = { min: 1, max: 16 } as const;
export const MAX_DATA_DISKS = 16;
export const DEFAULT_SYSTEM_DISK_SIZE_GIB = 40;
export const DEFAULT_COMPRESSION_LEVEL = 7;
export const DEFAULT_PARALLEL_STREAMS = 4;
/** KB/s; the job API's highest RateLimit (100 000 Mbit/s) in rsync's unit. */
export const BANDWIDTH_LIMIT_KBPS = { min: 0, max: 12_500_000 } as const;
/** AccessKey IDs and secrets (and STS ones) are far shorter; a longer value is a pasting mistake. */
export const ACCESS_KEY_MAX = 256;
/** Longest path Linux takes (PATH_MAX). */
export const SRC_PATH_MAX = 4096;
/** The region the seed's initial file carries; it means "not chosen yet". */
export const REGION_PLACEHOLDER = "region";
export const LOCAL_REGION = "local";

/** Directories that hold the operating system itself; a data disk cannot be one of them. */
export const SYSTEM_DIRECTORIES = ["/root", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/sbin", "/usr", "/var", "/proc", "/sys", "/run"] as const;
/** Kernel-made filesystems: nothing under them is data worth a disk. */
const PSEUDO_FILESYSTEM_ROOTS = ["/proc", "/sys", "/dev", "/run"] as const;

export interface ConfigProblem {
  /** Stable code, e.g. Config.InvalidImageName. */
  code: string;
  /** JSON path of the field, e.g. data_disks[1].src_path. */
  field: string;
  value: unknown;
  message: string;
}

export const UserDataDiskSchema = z.object({
  data_disk_index: z.number().int(),
  /** GiB; when absent the disk is sized from the data it holds. */
  data_disk_size: z.number().int().optional(),
  src_path: z.string(),
});
export type UserDataDisk = z.infer<typeof UserDataDiskSchema>;

export const UserConfigSchema = z.object({
  access_id: z.string(),
  secret_key: z.string(),
  region_id: z.string(),
  image_name: z.string(),
  system_disk_size: z.number().int(),
  platform: z.union([z.enum(PLATFORMS), z.literal("")]),
  architecture: z.union([z.enum(ARCHITECTURES), z.literal("")]),
  bandwidth_limit: z.number().int(),
  data_disks: z.array(UserDataDiskSchema),
  compression_level: z.number().int(),
  checksum: z.boolean(),
  parallel_streams: z.number().int(),
  boot_mode: z.enum(BOOT_MODES),
  filesystem: z.enum(TARGET_FILESYSTEMS),
  lvm: z.boolean(),
  separate_boot: z.boolean(),
  /** Mount points ("/" or a data disk's src_path) whose partition is copied block by block. */
  block_replication: z.array(z.string()),
});
/** A validated user_config.json with defaults filled in. */
export type UserConfig = z.infer<typeof UserConfigSchema>;

export interface UserConfigResult {
  config: UserConfig | undefined;
  problems: ConfigProblem[];
  /** Unknown fields and other things worth a look that do not stop the run. */
  warnings: string[];
}

const KNOWN_FIELDS = new Set([
  "access_id",
  "secret_key",
  "region_id",
  "image_name",
  "system_disk_size",
  "platform",
  "architecture",
  "bandwidth_limit",
  "data_disks",
  "compression_level",
  "checksum",
  "parallel_streams",
  "boot_mode",
  "filesystem",
  "lvm",
  "separate_boot",
  "block_replication",
]);
const KNOWN_DISK_FIELDS = new Set(["data_disk_index", "data_disk_size", "src_path"]);

// Letters of the CJK Unified Ideographs blocks count as "Chinese characters".
const CHINESE = "\\u3400-\\u4dbf\\u4e00-\\u9fff\\uf900-\\ufaff";
const IMAGE_NAME_RE = new RegExp(`^[A-Za-z${CHINESE}][A-Za-z0-9${CHINESE}.:_-]{1,127}$`);
const REGION_RE = /^[a-z]{2,}(-[a-z0-9]+)+$/;

/** Short, printable rendering of a value for messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return `the string ${JSON.stringify(shown)}${value.length > 60 ? ` (${value.length} characters)` : ""}`;
  }
  if (typeof value === "number") return String(value);
  if (typeof value === "boolean") return `the boolean ${value}`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return "an object";
}

class Collector {
  readonly problems: ConfigProblem[] = [];
  add(code: string, field: string, value: unknown, expected: string): void {
    this.problems.push({ code, field, value, message: `${field} must be ${expected}; got ${describeValue(value)}` });
  }
}

function int(c: Collector, code: string, field: string, value: unknown, range: { min: number; max?: number }, unit: string): number | undefined {
  const expected = `an integer ${unit}in [${range.min}, ${range.max ?? "∞"}]`.replace("∞]", "∞)");
  if (typeof value !== "number" || !Number.isInteger(value) || value < range.min || (range.max !== undefined && value > range.max)) {
    c.add(code, field, value, expected);
    return undefined;
  }
  return value;
}

function oneOf<T extends string>(c: Collector, code: string, field: string, value: unknown, allowed: readonly T[], note = ""): T | undefined {
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
  c.add(code, field, value, `one of ${allowed.map((a) => JSON.stringify(a)).join(" | ")}${note}`);
  return undefined;
}

function str(c: Collector, code: string, field: string, value: unknown): string | undefined {
  if (typeof value === "string") return value;
  c.add(code, field, value, "a string");
  return undefined;
}

/** An AccessKey ID or secret: empty (local region) or printable ASCII without spaces. */
function accessKey(c: Collector, code: string, field: string, value: unknown): string | undefined {
  if (typeof value === "string" && value.length <= ACCESS_KEY_MAX && /^[\x21-\x7e]*$/.test(value)) return value;
  // The value itself is a secret: say what is wrong with it, never what it is.
  const what = typeof value !== "string" ? describeValue(value) : value.length > ACCESS_KEY_MAX ? `${value.length} characters` : "text with spaces, control or non-ASCII characters";
  c.problems.push({ code, field, value: "[redacted]", message: `${field} must be empty or an AccessKey of up to ${ACCESS_KEY_MAX} printable ASCII characters without spaces; got ${what}` });
  return undefined;
}

/** Collapses repeated and trailing slashes; the caller has checked the path is absolute. */
export function normalizeSrcPath(path: string): string {
  const collapsed = path.replace(/\/+/g, "/");
  return collapsed.length > 1 ? collapsed.replace(/\/$/, "") : collapsed;
}

function checkSrcPath(c: Collector, field: string, value: unknown): string | undefined {
  const bad = (why: string) => {
    c.problems.push({ code: "Config.InvalidSrcPath", field, value, message: `${field} ${why}; got ${describeValue(value)}` });
    return undefined;
  };
  if (typeof value !== "string") return bad("must be a string naming an absolute directory such as /mnt/disk1");
  if (value.trim() === "") return bad("is required: the absolute directory whose contents become the data disk, such as /mnt/disk1");
  if (!value.startsWith("/")) return bad("must be an absolute path starting with /, such as /mnt/disk1");
  if (/[\u0000-\u001f]/.test(value)) return bad("must not contain control characters");
  if (value.length > SRC_PATH_MAX) return bad(`must be at most ${SRC_PATH_MAX} characters`);
  const path = normalizeSrcPath(value);
  if (path.split("/").some((part) => part === "." || part === "..")) return bad("must not contain . or .. components");
  if (path === "/") return bad("cannot be / (the system disk holds the root filesystem)");
  if ((SYSTEM_DIRECTORIES as readonly string[]).includes(path)) return bad(`cannot be /root or a system directory (${SYSTEM_DIRECTORIES.join(" ")})`);
  if (PSEUDO_FILESYSTEM_ROOTS.some((root) => path.startsWith(`${root}/`))) return bad(`cannot be inside ${PSEUDO_FILESYSTEM_ROOTS.join(" ")}, which the kernel makes at boot`);
  return path;
}

function validateDataDisks(c: Collector, value: unknown, warnings: string[]): UserDataDisk[] | undefined {
  if (!Array.isArray(value)) {
    c.add("Config.InvalidDataDisks", "data_disks", value, `an array of at most ${MAX_DATA_DISKS} objects with data_disk_index, data_disk_size and src_path`);
    return undefined;
  }
  if (value.length > MAX_DATA_DISKS) {
    c.problems.push({
      code: "Config.TooManyDataDisks",
      field: "data_disks",
      value: value.length,
      message: `data_disks may list at most ${MAX_DATA_DISKS} disks; got ${value.length}`,
    });
  }
  // Each accepted disk keeps its position in the file so messages point at the right entry.
  const disks: { at: number; disk: UserDataDisk }[] = [];
  let ok = true;
  value.forEach((item: unknown, i) => {
    const at = `data_disks[${i}]`;
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      c.add("Config.InvalidDataDisks", at, item, "an object with data_disk_index, data_disk_size and src_path");
      ok = false;
      return;
    }
    const rec = item as Record<string, unknown>;
    for (const key of Object.keys(rec)) if (!KNOWN_DISK_FIELDS.has(key)) warnings.push(`${at}.${key} is not a known field and is ignored`);
    // The seed's default index is 1; numbering by position keeps several unnumbered disks apart.
    const index = rec.data_disk_index === undefined ? i + 1 : int(c, "Config.InvalidDataDiskIndex", `${at}.data_disk_index`, rec.data_disk_index, DATA_DISK_INDEX, "");
    const size = rec.data_disk_size === undefined ? undefined : int(c, "Config.InvalidDataDiskSize", `${at}.data_disk_size`, rec.data_disk_size, DATA_DISK_SIZE_GIB, "number of GiB ");
    const src = checkSrcPath(c, `${at}.src_path`, rec.src_path);
    if (index === undefined || src === undefined || (rec.data_disk_size !== undefined && size === undefined)) {
      ok = false;
      return;
    }
    disks.push({ at: i, disk: size === undefined ? { data_disk_index: index, src_path: src } : { data_disk_index: index, data_disk_size: size, src_path: src } });
  });
  const seen = new Map<number, number>();
  for (const { at: i, disk: d } of disks) {
    if (seen.has(d.data_disk_index)) {
      c.problems.push({
        code: "Config.DuplicateDataDiskIndex",
        field: `data_disks[${i}].data_disk_index`,
        value: d.data_disk_index,
        message: `data_disks[${i}].data_disk_index ${d.data_disk_index} is used by more than one data disk; each disk needs its own index in [${DATA_DISK_INDEX.min}, ${DATA_DISK_INDEX.max}]`,
      });
      ok = false;
    } else seen.set(d.data_disk_index, i);
  }
  for (const { at: i, disk: a } of disks) {
    for (const { at: j, disk: b } of disks) {
      if (i === j) continue;
      const same = a.src_path === b.src_path && i > j;
      const nested = a.src_path.startsWith(`${b.src_path}/`);
      if (same || nested) {
        c.problems.push({
          code: "Config.InvalidSrcPath",
          field: `data_disks[${i}].src_path`,
          value: a.src_path,
          message: `data_disks[${i}].src_path ${JSON.stringify(a.src_path)} ${same ? "is the same directory as" : "lies inside"} data_disks[${j}].src_path ${JSON.stringify(b.src_path)}; each data disk needs its own directory, not nested in another`,
        });
        ok = false;
      }
    }
  }
  return ok ? disks.map((d) => d.disk) : undefined;
}

/**
 * Validates a parsed user_config.json (after any command-line overrides were
 * applied) and fills in defaults. Returns every problem found, never only the first.
 */
export function validateUserConfig(raw: unknown): UserConfigResult {
  const c = new Collector();
  const warnings: string[] = [];
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    c.add("Config.InvalidJson", "user_config.json", raw, "a JSON object such as {\"image_name\": \"my-image\"}");
    return { config: undefined, problems: c.problems, warnings };
  }
  const input: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  // The seed's parameter table spells it "Architecture"; accept that spelling too.
  if (input.architecture === undefined && input.Architecture !== undefined) {
    input.architecture = input.Architecture;
    delete input.Architecture;
  }
  for (const key of Object.keys(input)) if (!KNOWN_FIELDS.has(key)) warnings.push(`${key} is not a known user_config.json field and is ignored`);
  const get = <T>(key: string, fallback: T): unknown => (input[key] === undefined || input[key] === null ? fallback : input[key]);

  const accessId = accessKey(c, "Config.InvalidAccessId", "access_id", get("access_id", ""));
  const secretKey = accessKey(c, "Config.InvalidSecretKey", "secret_key", get("secret_key", ""));
  let region = str(c, "Config.InvalidRegionId", "region_id", get("region_id", REGION_PLACEHOLDER));
  if (region !== undefined) {
    region = region.trim();
    if (region === "" || region === REGION_PLACEHOLDER) {
      // The seed's template ships region_id as a placeholder to fill in; left so, the migration stays on this host, and says so.
      if (input.region_id !== undefined && input.region_id !== null)
        warnings.push(`region_id is ${region === "" ? "empty" : `"${REGION_PLACEHOLDER}"`}, so the migration goes to this host's image store (region_id "${LOCAL_REGION}"); give a region ID such as "cn-hangzhou" to migrate into Alibaba Cloud`);
      region = LOCAL_REGION;
    }
    if (region !== LOCAL_REGION && !REGION_RE.test(region)) {
      c.add("Config.InvalidRegionId", "region_id", input.region_id, `"${LOCAL_REGION}" (this host, the default) or a region ID such as "cn-hangzhou"`);
      region = undefined;
    }
  }
  if (region !== undefined && region !== LOCAL_REGION && (accessId === "" || secretKey === "")) {
    c.problems.push({
      code: "Config.MissingAccessKey",
      field: accessId === "" ? "access_id" : "secret_key",
      value: "",
      message: `region_id ${JSON.stringify(region)} is a cloud region, so access_id and secret_key are required; leave region_id as "${LOCAL_REGION}" to migrate into this host's image store`,
    });
  }

  const imageNameRaw = get("image_name", "");
  let imageName: string | undefined;
  if (typeof imageNameRaw === "string" && IMAGE_NAME_RE.test(imageNameRaw)) imageName = imageNameRaw;
  else
    c.add(
      "Config.InvalidImageName",
      "image_name",
      imageNameRaw,
      "a string of 2 to 128 characters that begins with an English letter or a Chinese character and contains only A-Z, a-z, Chinese characters, digits, periods (.), colons (:), underscores (_) and hyphens (-)",
    );

  const systemDiskSize = int(c, "Config.InvalidSystemDiskSize", "system_disk_size", get("system_disk_size", DEFAULT_SYSTEM_DISK_SIZE_GIB), SYSTEM_DISK_SIZE_GIB, "number of GiB ");
  const platformRaw = get("platform", "");
  const platform = platformRaw === "" ? "" : oneOf(c, "Config.InvalidPlatform", "platform", platformRaw, PLATFORMS, ' or "" (case-sensitive)');
  const archRaw = get("architecture", "");
  const architecture = archRaw === "" ? "" : oneOf(c, "Config.InvalidArchitecture", "architecture", archRaw, ARCHITECTURES, ' or ""');
  const bandwidth = int(c, "Config.InvalidBandwidthLimit", "bandwidth_limit", get("bandwidth_limit", 0), BANDWIDTH_LIMIT_KBPS, "number of KB/s (0 = unlimited) ");
  const dataDisks = validateDataDisks(c, get("data_disks", []), warnings);
  const compression = int(c, "Config.InvalidCompressionLevel", "compression_level", get("compression_level", DEFAULT_COMPRESSION_LEVEL), { min: 0, max: 10 }, "");
  const checksumRaw = get("checksum", false);
  const checksum = typeof checksumRaw === "boolean" ? checksumRaw : undefined;
  if (checksum === undefined) c.add("Config.InvalidChecksum", "checksum", checksumRaw, "true or false");
  const bool = (code: string, field: string): boolean | undefined => {
    const value = get(field, false);
    if (typeof value === "boolean") return value;
    c.add(code, field, value, "true or false");
    return undefined;
  };
  const lvm = bool("Config.InvalidLvm", "lvm");
  const separateBoot = bool("Config.InvalidSeparateBoot", "separate_boot");
  const streams = int(c, "Config.InvalidParallelStreams", "parallel_streams", get("parallel_streams", DEFAULT_PARALLEL_STREAMS), { min: 1, max: 16 }, "");
  const bootMode = oneOf(c, "Config.InvalidBootMode", "boot_mode", get("boot_mode", "auto"), BOOT_MODES);
  const filesystem = oneOf(c, "Config.InvalidFilesystem", "filesystem", get("filesystem", "ext4"), TARGET_FILESYSTEMS);
  const blockRaw = get("block_replication", []);
  const diskPaths = new Set((dataDisks ?? []).map((d) => d.src_path));
  let blockReplication: string[] | undefined;
  if (!Array.isArray(blockRaw) || blockRaw.some((m) => typeof m !== "string")) {
    c.add("Config.InvalidBlockReplication", "block_replication", blockRaw, 'a list of mount points, e.g. ["/", "/mnt/disk1"]');
  } else {
    blockReplication = [...new Set(blockRaw as string[])];
    // Without valid data disks there is nothing to check the paths against (their own problem is reported).
    for (const m of dataDisks === undefined ? [] : blockReplication) {
      if (m !== "/" && !diskPaths.has(m)) c.add("Config.InvalidBlockReplication", "block_replication", m, '"/" or the src_path of a data disk');
    }
  }

  if (c.problems.length > 0) return { config: undefined, problems: c.problems, warnings };
  const config = UserConfigSchema.parse({
    access_id: accessId,
    secret_key: secretKey,
    region_id: region,
    image_name: imageName,
    system_disk_size: systemDiskSize,
    platform,
    architecture,
    bandwidth_limit: bandwidth,
    data_disks: dataDisks,
    compression_level: compression,
    checksum,
    parallel_streams: streams,
    boot_mode: bootMode,
    filesystem,
    lvm,
    separate_boot: separateBoot,
    block_replication: blockReplication,
  });
  return { config, problems: [], warnings };
}

// Flag values of `hoist jobs` turned into the API's PascalCase request bodies.
// Only the syntax is checked here (a number that is not a number, a data disk
// without its path, a time without a zone); ranges and combinations the API
// knows about are left to the server, so the CLI and scripts calling the API
// get the same codes for the same mistakes.
import { type CreateReplicationJobRequest, type DataDiskRequest, ECS_INSTANCE_ID, HoistError, type ModifyReplicationJobRequest, type Tag } from "@hoist/protocol";

/** A whole number (the sign is allowed; the server says whether it is in range). */
export function wholeNumberFlag(flag: string) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new HoistError("Config.InvalidNumber", `${flag} must be a whole number (got "${value}")`, { fix: `Pass ${flag} <n>, e.g. ${flag} 4.` });
    return Number(value);
  };
}

/** A number with an optional fraction, e.g. a rate in Mbit/s. */
export function numberFlag(flag: string) {
  return (value: string): number => {
    if (!/^-?\d+(\.\d+)?$/.test(value.trim())) throw new HoistError("Config.InvalidNumber", `${flag} must be a number (got "${value}")`, { fix: `Pass ${flag} <n>, e.g. ${flag} 100.` });
    return Number(value);
  };
}

/** An ECS instance id, as `hoist migrate --destination-instance` takes it. */
export function destinationInstanceFlag(value: string): string {
  if (!ECS_INSTANCE_ID.test(value)) {
    throw new HoistError("Config.InvalidDestinationInstance", `--destination-instance must be an ECS instance id such as i-bp1abcd2efgh3ijk4lmn (got ${JSON.stringify(value.slice(0, 64))})`, {
      fix: "Pass the id of the existing ECS instance to migrate onto (the ECS console lists them).",
    });
  }
  return value;
}

/** `index:size:/path`, size in GiB or empty for the server's default. Repeatable. */
export function dataDiskFlag(value: string, previous: DataDiskRequest[] = []): DataDiskRequest[] {
  const m = /^(\d+):(\d*):(\/.*)$/.exec(value.trim());
  if (!m) {
    throw new HoistError("Config.InvalidDataDiskFlag", `--data-disk must be index:size:/path (got "${value}")`, {
      fix: "Pass e.g. --data-disk 1:100:/mnt/data (disk 1, 100 GiB, from /mnt/data on the source), or 1::/mnt/data to let the server size it; repeat the flag for more disks.",
    });
  }
  const disk: DataDiskRequest = { Index: Number(m[1]), SourcePath: m[3] as string };
  if (m[2]) disk.Size = Number(m[2]);
  return [...previous, disk];
}

/** `key=value` or `key`. Repeatable. */
export function tagFlag(value: string, previous: Tag[] = []): Tag[] {
  const eq = value.indexOf("=");
  const key = eq < 0 ? value : value.slice(0, eq);
  if (key.trim() === "") throw new HoistError("Config.InvalidTagFlag", `--tag must be key=value with a key (got "${value}")`, { fix: "Pass e.g. --tag team=web; repeat the flag for more tags." });
  return [...previous, eq < 0 ? { Key: key } : { Key: key, Value: value.slice(eq + 1) }];
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

/** Date.parse rolls 2030-02-30 over into March; a typo there should not move the date. */
function realDay(value: string): boolean {
  const [y, m, d] = value.slice(0, 10).split("-").map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}

/** An ISO 8601 time with its zone, sent as UTC. */
export function timeFlag(flag: string) {
  return (value: string): string => {
    const t = Date.parse(value);
    if (!ISO_8601.test(value) || Number.isNaN(t) || !realDay(value)) {
      throw new HoistError("Config.InvalidTime", `${flag} must be an ISO 8601 time with a zone (got "${value}")`, {
        fix: `Pass e.g. ${flag} 2030-01-31T22:00:00Z or ${flag} 2030-01-31T23:00:00+01:00.`,
      });
    }
    return new Date(t).toISOString();
  };
}

export interface CreateFlags {
  source: string;
  name?: string;
  description?: string;
  imageName?: string;
  region?: string;
  systemDiskSize?: number;
  dataDisk?: DataDiskRequest[];
  /** Indexes of data disks copied by block (--block-disk). */
  blockDisk?: number[];
  lvm?: boolean;
  bootMode?: string;
  filesystem?: string;
  rateLimit?: number;
  compressLevel?: number;
  checksum?: boolean;
  parallelStreams?: number;
  licenseType?: string;
  instanceType?: string;
  /** The existing ECS instance to migrate onto (TargetType TargetInstance). */
  destinationInstance?: string;
  tag?: Tag[];
  frequency?: number;
  keep?: number;
  at?: string;
  createOnly?: boolean;
  validUntil?: string;
  /** false with --no-verify. */
  verify: boolean;
}

export function createRequest(f: CreateFlags): CreateReplicationJobRequest {
  if (f.at !== undefined && f.createOnly) {
    throw new HoistError("Config.ConflictingFlags", "--at and --create-only exclude each other", { fix: "Pass --at <time> to start later, or --create-only to start it yourself with hoist jobs start." });
  }
  if (f.keep !== undefined && f.frequency === undefined) {
    throw new HoistError("Config.KeepNeedsFrequency", "--keep is for periodic jobs and needs --frequency", { fix: "Pass --frequency <hours> with --keep <n>, or leave --keep out for a one-time migration." });
  }
  const body: CreateReplicationJobRequest = { SourceId: f.source };
  const set = <K extends keyof CreateReplicationJobRequest>(key: K, value: CreateReplicationJobRequest[K] | undefined): void => {
    if (value !== undefined) body[key] = value;
  };
  set("Name", f.name);
  set("Description", f.description);
  set("ImageName", f.imageName);
  set("RegionId", f.region);
  set("SystemDiskSize", f.systemDiskSize);
  const blockDisks = f.blockDisk ?? [];
  for (const index of blockDisks) {
    if (!f.dataDisk?.some((d) => d.Index === index)) {
      throw new HoistError("Config.InvalidBlockDiskFlag", `--block-disk ${index} names no data disk given with --data-disk`, {
        fix: `Pass --data-disk ${index}:<GiB>:/path for the partition to copy by block, then --block-disk ${index}.`,
      });
    }
  }
  if (f.dataDisk?.length) body.DataDisks = f.dataDisk.map((d) => (blockDisks.includes(d.Index) ? { ...d, Block: true } : d));
  set("Lvm", f.lvm);
  set("BootMode", f.bootMode);
  set("Filesystem", f.filesystem);
  set("RateLimit", f.rateLimit);
  set("CompressLevel", f.compressLevel);
  set("Checksum", f.checksum);
  set("ParallelStreams", f.parallelStreams);
  set("LicenseType", f.licenseType);
  set("InstanceType", f.instanceType);
  if (f.destinationInstance !== undefined) {
    body.TargetType = "TargetInstance";
    body.InstanceId = f.destinationInstance;
  }
  if (f.tag?.length) body.Tags = f.tag;
  if (f.frequency !== undefined) {
    body.RunOnce = false;
    body.Frequency = f.frequency;
    set("MaxNumberOfImageToKeep", f.keep);
  }
  if (f.at !== undefined) {
    body.ExecutionMethod = "Scheduled";
    body.ScheduledStartTime = f.at;
  } else if (f.createOnly) body.ExecutionMethod = "CreateOnly";
  set("ValidTime", f.validUntil);
  if (!f.verify) body.VerifyImage = false;
  return body;
}

export interface ModifyFlags {
  name?: string;
  description?: string;
  rateLimit?: number;
  compressLevel?: number;
  /** true with --checksum, false with --no-checksum, unset otherwise. */
  checksum?: boolean;
  frequency?: number;
  keep?: number;
  validUntil?: string;
}

export function modifyRequest(f: ModifyFlags): ModifyReplicationJobRequest {
  const body: ModifyReplicationJobRequest = {};
  if (f.name !== undefined) body.Name = f.name;
  if (f.description !== undefined) body.Description = f.description;
  if (f.rateLimit !== undefined) body.RateLimit = f.rateLimit;
  if (f.compressLevel !== undefined) body.CompressLevel = f.compressLevel;
  if (f.checksum !== undefined) body.Checksum = f.checksum;
  if (f.frequency !== undefined) body.Frequency = f.frequency;
  if (f.keep !== undefined) body.MaxNumberOfImageToKeep = f.keep;
  if (f.validUntil !== undefined) body.ValidTime = f.validUntil;
  if (Object.keys(body).length === 0) {
    throw new HoistError("Config.NothingToModify", "no setting to change was given", {
      fix: "Pass at least one of --name, --description, --rate-limit, --compress-level, --checksum/--no-checksum, --frequency, --keep, --valid-until.",
    });
  }
  return body;
}

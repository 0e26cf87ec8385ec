// Replication jobs of the control plane, in SMC's vocabulary: the request that
// creates one (CreateReplicationJob), the job as the API shows it
// (DescribeReplicationJobs), its Status and BusinessStatus, and the work the
// server hands to `hoist agent` on a source (agent tasks) with the reports the
// agent sends back. Field names follow SMC's API (PascalCase) so scripts
// written against it read naturally here.
import { z } from "zod";
import { SourceInventorySchema } from "./inventory";
import { type ChangedDuringCopy, DiskSourceChangesSchema } from "./source-changes";

/** Job `Status`, as in SMC's API. */
export const JOB_STATUSES = ["Ready", "Running", "Stopped", "InError", "Finished", "Waiting", "Expired", "Deleting"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Job `BusinessStatus` while Running (and where it stopped, when Stopped or InError). */
export const BUSINESS_STATUSES = ["Preparing", "Syncing", "Processing", "Cleaning"] as const;
export type BusinessStatus = (typeof BUSINESS_STATUSES)[number];

/** A job in one of these holds its source: a source has at most one. */
export const UNFINISHED_JOB_STATUSES: readonly JobStatus[] = ["Ready", "Running", "Stopped", "InError", "Waiting"];

export const EXECUTION_METHODS = ["Now", "Scheduled", "CreateOnly"] as const;
export type ExecutionMethod = (typeof EXECUTION_METHODS)[number];

/**
 * Where a job's migration lands (SMC's TargetType): a new image ("Image", the default) or an
 * existing ECS instance ("TargetInstance", with InstanceId) whose disks take the copy.
 */
export const TARGET_TYPES = ["Image", "TargetInstance"] as const;
export type TargetType = (typeof TARGET_TYPES)[number];

/** An ECS instance id as ECS writes them (i-bp1abcd2efgh3ijk4lmn). */
export const ECS_INSTANCE_ID = /^i-[0-9a-z]{4,40}$/;

/** Ranges of the job parameters (SMC's console and API). */
export const JOB_LIMITS = {
  name: { min: 1, max: 128 },
  descriptionMax: 256,
  imageName: { min: 2, max: 96 },
  systemDiskGiB: { min: 20, max: 2048 },
  dataDiskGiB: { min: 20, max: 32768 },
  dataDisks: 16,
  rateLimitMbps: { min: 0, max: 100_000 },
  compressLevel: { min: 0, max: 10, default: 7 },
  parallelStreams: { min: 1, max: 16, default: 4 },
  tags: 20,
  tagKeyMax: 128,
  tagValueMax: 128,
  frequencyHours: { min: 1, max: 168 },
  imagesToKeep: { min: 1, max: 10 },
  /** A scheduled start must be at least this far ahead. */
  scheduleLeadMinutes: 10,
  /** A folder on the source (PATH_MAX). */
  sourcePathMax: 4096,
  systemDiskParts: 64,
  /** Ids of sources, VPCs, vSwitches and regions, and the short enumerated settings. */
  idMax: 128,
} as const;

const L = JOB_LIMITS;
/** Text the server checks field by field; the bound is for the OpenAPI document. */
const text = (max: number = L.idMax) => z.string().max(max);
const whole = (range: { min: number; max: number }) => z.number().int().min(range.min).max(range.max);

export const TagSchema = z.strictObject({ Key: z.string().min(1).max(L.tagKeyMax), Value: z.string().max(L.tagValueMax).optional() });
export type Tag = z.infer<typeof TagSchema>;

export const DataDiskRequestSchema = z.strictObject({
  /** 1–16: the target data disk's number. */
  Index: whole({ min: 1, max: L.dataDisks }),
  /** GiB; defaults to what the folder needs plus room. */
  Size: whole(L.dataDiskGiB).optional(),
  /** The folder on the source that becomes this disk (absolute, not /). */
  SourcePath: text(L.sourcePathMax),
  /** Block-level replication of this disk instead of file-level (rsync). */
  Block: z.boolean().optional(),
});
export type DataDiskRequest = z.infer<typeof DataDiskRequestSchema>;

/** A partition choice on the system disk: copy it file by file (default) or block by block. */
export const SystemDiskPartSchema = z.strictObject({ Path: text(L.sourcePathMax), Block: z.boolean().optional() });

/**
 * CreateReplicationJob. Only SourceId is required. The body is checked field by
 * field on the server so each mistake gets its own code; this schema gives the
 * shape for the OpenAPI document and the clients.
 */
export const CreateReplicationJobRequestSchema = z.strictObject({
  SourceId: text(64),
  Name: text(L.name.max).optional(),
  Description: text(L.descriptionMax).optional(),
  /** "Image" (default) or "TargetInstance" (onto the existing instance InstanceId, run once); "ContainerImage" is refused. */
  TargetType: text().optional(),
  /** With TargetType "TargetInstance": the existing ECS instance the source migrates onto (its data is erased). */
  InstanceId: text(64).optional(),
  RegionId: text(64).optional(),
  /** The image name, or for periodic jobs the prefix of each run's image name. */
  ImageName: text(L.imageName.max).optional(),
  SystemDiskSize: whole(L.systemDiskGiB).optional(),
  SystemDiskParts: z.array(SystemDiskPartSchema).max(L.systemDiskParts).optional(),
  DataDisks: z.array(DataDiskRequestSchema).max(L.dataDisks).optional(),
  BootMode: text().optional(),
  Filesystem: text().optional(),
  SeparateBoot: z.boolean().optional(),
  /** Rebuild the target disks as LVM (vgX/lvY). */
  Lvm: z.boolean().optional(),
  /** 0 public network, 2 VPC (needs VpcId and VSwitchId). */
  NetMode: whole({ min: 0, max: 2 }).optional(),
  VpcId: text().optional(),
  VSwitchId: text().optional(),
  /** Mbit/s, 0 = no limit. */
  RateLimit: whole(L.rateLimitMbps).optional(),
  CompressLevel: whole(L.compressLevel).optional(),
  Checksum: z.boolean().optional(),
  /** "Auto" or "On": data always travels in TLS; "Off" is refused. */
  Ssl: text().optional(),
  ParallelStreams: whole(L.parallelStreams).optional(),
  LicenseType: text().optional(),
  /** The intermediate instance's type; the local provider ignores it. */
  InstanceType: text(64).optional(),
  Tags: z.array(TagSchema).max(L.tags).optional(),
  /** true (default): one migration. false: an incremental sync every Frequency hours. */
  RunOnce: z.boolean().optional(),
  Frequency: whole(L.frequencyHours).optional(),
  MaxNumberOfImageToKeep: whole(L.imagesToKeep).optional(),
  ExecutionMethod: text().optional(),
  /** ISO 8601, at least 10 minutes ahead; with ExecutionMethod "Scheduled". */
  ScheduledStartTime: text(64).optional(),
  /** ISO 8601: a job not finished by then becomes Expired. */
  ValidTime: text(64).optional(),
  /** Boot the image to prove it works (default true). */
  VerifyImage: z.boolean().optional(),
});
export type CreateReplicationJobRequest = z.infer<typeof CreateReplicationJobRequestSchema>;

/** ModifyReplicationJobAttribute: the settings that may change after creation. */
export const ModifyReplicationJobRequestSchema = z.strictObject({
  Name: text(L.name.max).optional(),
  Description: text(L.descriptionMax).optional(),
  RateLimit: whole(L.rateLimitMbps).optional(),
  CompressLevel: whole(L.compressLevel).optional(),
  Checksum: z.boolean().optional(),
  Frequency: whole(L.frequencyHours).optional(),
  MaxNumberOfImageToKeep: whole(L.imagesToKeep).optional(),
  ValidTime: text(64).optional(),
  Tags: z.array(TagSchema).max(L.tags).optional(),
});
export type ModifyReplicationJobRequest = z.infer<typeof ModifyReplicationJobRequestSchema>;

/** The settings a job was created with, after defaults. */
export interface ReplicationJobSettings {
  TargetType: TargetType;
  /** The destination instance of a TargetInstance job; null for an image (and in rows stored before it existed). */
  InstanceId: string | null;
  RegionId: string;
  ImageName: string;
  SystemDiskSize: number | null;
  SystemDiskParts: { Path: string; Block: boolean }[];
  DataDisks: { Index: number; Size: number | null; SourcePath: string; Block: boolean }[];
  BootMode: "auto" | "bios" | "uefi";
  Filesystem: "ext4" | "xfs";
  SeparateBoot: boolean;
  Lvm: boolean;
  NetMode: 0 | 2;
  VpcId: string | null;
  VSwitchId: string | null;
  RateLimit: number;
  CompressLevel: number;
  Checksum: boolean;
  Ssl: "Auto" | "On";
  ParallelStreams: number;
  LicenseType: "Aliyun" | "BYOL";
  InstanceType: string | null;
  Tags: { Key: string; Value: string }[];
  RunOnce: boolean;
  Frequency: number | null;
  MaxNumberOfImageToKeep: number | null;
  ExecutionMethod: ExecutionMethod;
  ScheduledStartTime: string | null;
  ValidTime: string | null;
  VerifyImage: boolean;
}

export interface JobImage {
  ImageName: string;
  RegionId: string;
  Run: number;
  CreationTime: string;
  /** "booted" | "failed" | "skipped" */
  Verification: string;
  BootSeconds: number | null;
}

/** One job as DescribeReplicationJobs shows it. */
export interface ReplicationJob extends ReplicationJobSettings {
  JobId: string;
  Name: string;
  Description: string;
  SourceId: string;
  Status: JobStatus;
  BusinessStatus: BusinessStatus | null;
  /** 0–100 over the current run. */
  Progress: number;
  /** Bytes copied and to copy in the current run, speed before compression, (total − done) / speed. */
  Transfer: { BytesDone: number; BytesTotal: number; Speed: number; TimeRemainingSeconds: number | null } | null;
  ErrorCode: string | null;
  ErrorMessage: string | null;
  ErrorFix: string | null;
  StatusInfo: string | null;
  /** What appeared, vanished or changed on the source during the job's last completed copy (the next sync brings it over). */
  ChangedDuringCopy: ChangedDuringCopy | null;
  TransitionInstanceId: string | null;
  /** The image the latest finished run made (images are named; the name is their id). */
  ImageId: string | null;
  Images: JobImage[];
  /** Runs started so far (periodic jobs run many times). */
  RunCount: number;
  NextRunTime: string | null;
  CreationTime: string;
  StartTime: string | null;
  EndTime: string | null;
}

// --- Agent tasks: what the server asks `hoist agent` to do, through its heartbeat.

export const TransferSettingsSchema = z.object({
  /** KiB/s for rsync --bwlimit, 0 = no limit (the job's RateLimit in Mbit/s × 122). */
  bandwidthKBps: z.number().int().min(0),
  compression: z.number().int().min(0).max(10),
  checksum: z.boolean(),
  streams: z.number().int().min(1).max(16),
});
export type TransferSettings = z.infer<typeof TransferSettingsSchema>;

export const InventoryTaskSchema = z.object({
  taskId: z.string(),
  jobId: z.string(),
  kind: z.literal("inventory"),
  /** Folders (absolute on the source) whose used bytes the plan needs: the data disks' SourcePaths. */
  paths: z.array(z.string()),
  bootMode: z.enum(["auto", "bios", "uefi"]),
  /** Mount points (absolute on the source) to be copied by block: the agent says which partition each is. */
  blockPaths: z.array(z.string()).optional(),
});

/** A partition of the source to be copied by block, as the agent found it. */
export const BlockSourceSchema = z.strictObject({
  mountPoint: z.string().max(4096),
  device: z.string().max(4096),
  fs: z.string().max(32),
  uuid: z.string().max(64),
  sourceBytes: z.number().int().min(0),
});
export type BlockSourceReport = z.infer<typeof BlockSourceSchema>;

export const TransferDiskSchema = z.object({
  /** The receiver module: "system" or "diskN". */
  module: z.string(),
  /** Absolute path on the source ("/" for the system disk). */
  sourcePath: z.string(),
  /** Paths (absolute on the source) left out of this disk's copy, beyond the default excludes. */
  excludes: z.array(z.string()),
  usedBytes: z.number().int().min(0),
  /** Partitions of this disk copied by block, before (and instead of) the file copy of the rest. */
  blockPartitions: z.array(z.object({ partition: z.string(), mountPoint: z.string(), device: z.string() })).optional(),
  /** True when every partition of the disk is copied by block: there is no file copy. */
  blockOnly: z.boolean().optional(),
});

export const TransferTaskSchema = z.object({
  taskId: z.string(),
  jobId: z.string(),
  kind: z.literal("transfer"),
  receiver: z.object({ host: z.string(), dataPort: z.number().int(), fingerprint: z.string() }),
  receiverJobId: z.string(),
  /** A per-job token minted for this delivery; never stored by the server. */
  token: z.string(),
  disks: z.array(TransferDiskSchema),
  settings: TransferSettingsSchema,
  /** Bumped each time the settings change; the agent restarts its copy with the new ones. */
  settingsVersion: z.number().int(),
});

export const AgentTaskSchema = z.discriminatedUnion("kind", [InventoryTaskSchema, TransferTaskSchema]);
export type AgentTask = z.infer<typeof AgentTaskSchema>;
export type InventoryTask = z.infer<typeof InventoryTaskSchema>;
export type TransferTask = z.infer<typeof TransferTaskSchema>;

/** POST /v1/agents/tasks/:taskId/progress */
export const TaskProgressRequestSchema = z.strictObject({
  bytesDone: z.number().min(0).max(Number.MAX_SAFE_INTEGER),
  bytesTotal: z.number().min(0).max(Number.MAX_SAFE_INTEGER),
  /** Bytes per second before compression. */
  bytesPerSecond: z.number().min(0).max(Number.MAX_SAFE_INTEGER),
  /** The disk being copied ("system", "disk1", …). */
  disk: z.string().max(32).optional(),
});
export type TaskProgressRequest = z.infer<typeof TaskProgressRequestSchema>;

export const TaskProgressResponseSchema = z.object({
  /** "continue", or "stop": the job was paused or cancelled; end the work and report nothing more. */
  action: z.enum(["continue", "stop"]),
  settings: TransferSettingsSchema.optional(),
  settingsVersion: z.number().int().optional(),
});
export type TaskProgressResponse = z.infer<typeof TaskProgressResponseSchema>;

/** POST /v1/agents/tasks/:taskId/result */
// Told apart by `ok`, so a mistake is reported at its field rather than as "matches neither".
export const TaskResultRequestSchema = z.discriminatedUnion("ok", [
  z.strictObject({
    ok: z.literal(true),
    /** For inventory tasks. */
    inventory: SourceInventorySchema.optional(),
    /** For inventory tasks with blockPaths: the partition behind each. */
    blockSources: z.array(BlockSourceSchema).max(64).optional(),
    /** For transfer tasks: bytes the copy covered, and whether files changed or vanished under it. */
    bytesTotal: z.number().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    vanishedFiles: z.boolean().optional(),
    /** For transfer tasks: per disk copied by file, what changed on the source while it was copied. */
    changedDuringCopy: z.array(DiskSourceChangesSchema).max(17).optional(),
  }),
  z.strictObject({
    ok: z.literal(false),
    error: z.strictObject({ code: z.string().max(128), message: z.string().max(4000), fix: z.string().max(2000).optional() }),
  }),
]);
export type TaskResultRequest = z.infer<typeof TaskResultRequestSchema>;

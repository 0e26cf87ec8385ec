// Wire messages between an agent (or a provider) and the receiver on the
// intermediate instance: the HTTPS control API on the control port and the
// header frame that opens every connection on the data port.
import { z } from "zod";
import { TargetPlanSchema } from "./plan";

/** The JSON line `hoist receiver` prints on stdout when it is ready, also kept in receiver.json. */
export const ReceiverReadySchema = z.object({
  event: z.literal("ready"),
  controlPort: z.number().int().min(1).max(65535),
  dataPort: z.number().int().min(1).max(65535),
  /** SHA-256 of the DER certificate, lowercase hex without colons. */
  fingerprint: z.string().regex(/^[0-9a-f]{64}$/),
  pid: z.number().int().positive(),
});
export type ReceiverReady = z.infer<typeof ReceiverReadySchema>;

export const ReceiverHealthSchema = z.object({
  version: z.string(),
  time: z.string(),
  hostname: z.string(),
});
export type ReceiverHealth = z.infer<typeof ReceiverHealthSchema>;

export const JobIdSchema = z.string().regex(/^j-[0-9a-f]{16}$/);

export const CreateJobRequestSchema = z.object({
  plan: TargetPlanSchema,
  label: z.string().max(200).optional(),
});
export type CreateJobRequest = z.infer<typeof CreateJobRequestSchema>;

export const CreateJobResponseSchema = z.object({
  jobId: JobIdSchema,
  /** Returned once; the receiver keeps only its SHA-256. */
  token: z.string().regex(/^[0-9a-f]{64}$/),
});
export type CreateJobResponse = z.infer<typeof CreateJobResponseSchema>;

export const ReceiverJobStateSchema = z.enum(["created", "prepared", "converted", "detached"]);

export const ReceiverDiskSchema = z.object({
  key: z.string(),
  rawPath: z.string(),
  sizeBytes: z.number(),
  mountPath: z.string(),
});

export const ReceiverJobSchema = z.object({
  jobId: JobIdSchema,
  label: z.string().optional(),
  state: ReceiverJobStateSchema,
  createdAt: z.string(),
  plan: TargetPlanSchema,
  disks: z.array(ReceiverDiskSchema),
  conversion: z.unknown().optional(),
});
export type ReceiverJob = z.infer<typeof ReceiverJobSchema>;

export const ConvertRequestSchema = z.object({ inventory: z.unknown() });

export const ApiErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  fix: z.string().optional(),
  retryable: z.boolean(),
});
export type ApiError = z.infer<typeof ApiErrorSchema>;

/** Largest header frame on the data port. */
export const MAX_FRAME_BYTES = 64 * 1024;

export const RsyncDataHeaderSchema = z.object({
  v: z.literal(1),
  jobId: JobIdSchema,
  token: z.string().min(1).max(256),
  kind: z.literal("rsync"),
  /** The remote command rsync asked its remote shell to run. */
  command: z.array(z.string().max(4096)).min(1).max(64),
});

/** A data connection is either an rsync daemon session (file mode) or a block session for one partition (block.ts). */
export const DataHeaderSchema = z.discriminatedUnion("kind", [
  RsyncDataHeaderSchema,
  z.object({
    v: z.literal(1),
    jobId: JobIdSchema,
    token: z.string().min(1).max(256),
    kind: z.literal("block"),
    /** The target partition key ("disk1-p1"). */
    partition: z.string().regex(/^[a-z0-9-]{1,40}$/),
  }),
]);
export type DataHeader = z.infer<typeof DataHeaderSchema>;

export const DataReplySchema = z.union([
  z.object({ ok: z.literal(true) }),
  z.object({ ok: z.literal(false), code: z.string(), message: z.string() }),
]);
export type DataReply = z.infer<typeof DataReplySchema>;

/** What the tunnel reads from the HOIST_TUNNEL environment variable (never argv, so `ps` cannot show the token). */
export const TunnelEnvSchema = z.object({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  fingerprint: z.string().min(1),
  jobId: JobIdSchema,
  token: z.string().min(1),
});
export type TunnelEnv = z.infer<typeof TunnelEnvSchema>;

// Wire messages of the control plane's HTTP API (`hoist server`): what the
// CLI, the console and `hoist agent` send and receive. Field ranges follow
// SMC's console (activation codes: 1–1000 uses, 1–90 days).
import { z } from "zod";
import { SourceInventorySchema } from "./inventory";
import { AgentTaskSchema } from "./replication-job";

export const SOURCE_STATES = ["Unavailable", "Available", "InUse", "Deleting"] as const;
export const SourceStateSchema = z.enum(SOURCE_STATES);
export type SourceState = z.infer<typeof SourceStateSchema>;

export const ACTIVATION_CODE_LIMITS = { uses: { min: 1, max: 1000, default: 200 }, validityDays: { min: 1, max: 90, default: 90 }, descriptionMax: 256 } as const;

/** The shape for the API's document; validateNewCode checks it field by field with its own codes. */
export const CreateActivationCodeRequestSchema = z.strictObject({
  uses: z.number().int().min(ACTIVATION_CODE_LIMITS.uses.min).max(ACTIVATION_CODE_LIMITS.uses.max).optional(),
  validityDays: z.number().int().min(ACTIVATION_CODE_LIMITS.validityDays.min).max(ACTIVATION_CODE_LIMITS.validityDays.max).optional(),
  description: z.string().max(ACTIVATION_CODE_LIMITS.descriptionMax).optional(),
});
export type CreateActivationCodeRequest = z.infer<typeof CreateActivationCodeRequestSchema>;

export const ActivationCodeSchema = z.object({
  codeId: z.string(),
  description: z.string(),
  uses: z.number().int(),
  usesLeft: z.number().int(),
  createdAt: z.string(),
  expiresAt: z.string(),
  expired: z.boolean(),
});
export type ActivationCode = z.infer<typeof ActivationCodeSchema>;

export const CreatedActivationCodeSchema = ActivationCodeSchema.extend({
  /** The secret; the server keeps only its hash, so this is the one time it is shown. */
  code: z.string(),
  /** One line to run as root on a source: fetches the CLI and starts `hoist agent`. */
  command: z.string(),
});
export type CreatedActivationCode = z.infer<typeof CreatedActivationCodeSchema>;

export const RegisterAgentRequestSchema = z.strictObject({
  activationCode: z.string().min(1).max(200),
  name: z.string().min(1).max(128).optional(),
  agentVersion: z.string().max(64).optional(),
  inventory: SourceInventorySchema,
  /** Why a full inventory could not be read (e.g. no bootloader in the tree); the import still counts. */
  inventoryError: z.object({ code: z.string().max(128), message: z.string().max(4000) }).optional(),
});
export type RegisterAgentRequest = z.infer<typeof RegisterAgentRequestSchema>;

export const RegisterAgentResponseSchema = z.object({
  sourceId: z.string(),
  /** The agent's own credential; the server keeps only its hash. */
  agentToken: z.string(),
  heartbeatSeconds: z.number().int().positive(),
});
export type RegisterAgentResponse = z.infer<typeof RegisterAgentResponseSchema>;

export const HeartbeatRequestSchema = z.strictObject({
  agentVersion: z.string().max(64).optional(),
  inventory: SourceInventorySchema.optional(),
  /** Tasks this agent is working on now; the server does not hand them out again. */
  runningTaskIds: z.array(z.string().max(64)).max(16).optional(),
});
export type HeartbeatRequest = z.infer<typeof HeartbeatRequestSchema>;

export const HeartbeatResponseSchema = z.object({
  sourceId: z.string(),
  state: SourceStateSchema,
  heartbeatSeconds: z.number().int().positive(),
  /** Work to start now (agent tasks not in runningTaskIds). */
  tasks: z.array(AgentTaskSchema).optional(),
});
export type HeartbeatResponse = z.infer<typeof HeartbeatResponseSchema>;

export const SourceServerSchema = z.object({
  sourceId: z.string(),
  name: z.string(),
  state: SourceStateSchema,
  /** Set while something is wrong with the source, e.g. `SourceServer.Offline`. */
  errorCode: z.string().nullable(),
  statusInfo: z.string().nullable(),
  hostname: z.string().nullable(),
  os: z.string().nullable(),
  arch: z.string().nullable(),
  agentVersion: z.string().nullable(),
  activationCodeId: z.string().nullable(),
  heartbeatSeconds: z.number().int(),
  lastHeartbeatAt: z.string(),
  registeredAt: z.string(),
});
export type SourceServer = z.infer<typeof SourceServerSchema>;

export const SourceServerDetailSchema = SourceServerSchema.extend({
  inventory: SourceInventorySchema,
  inventoryError: z.object({ code: z.string(), message: z.string() }).nullable(),
});
export type SourceServerDetail = z.infer<typeof SourceServerDetailSchema>;

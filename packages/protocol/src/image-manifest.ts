// An image in a local image store: qcow2 files for each target disk plus this
// manifest, which says where it came from (inventory summary), what was
// changed to make it boot (conversion report) and whether a boot proved it.
import { z } from "zod";
import { BootModeSchema } from "./inventory";

/** Image names follow the cloud's rules: 2–128 characters, starting with a letter (English or Chinese), then letters, digits, ".", ":", "_", "-". */
export const ImageNameSchema = z
  .string()
  .regex(/^[A-Za-z\u4e00-\u9fa5][A-Za-z0-9\u4e00-\u9fa5.:_-]{1,127}$/, "Image names are 2–128 characters, start with a letter (English or Chinese) and contain only letters, digits, periods, colons, underscores and hyphens.");

export const ConversionStepSchema = z.object({
  name: z.string(),
  ok: z.boolean(),
  /** Unified diff of every file the step changed. */
  diff: z.string().optional(),
  detail: z.string().optional(),
  error: z.string().optional(),
});
export type ConversionStep = z.infer<typeof ConversionStepSchema>;

export const ConversionReportSchema = z.object({
  bootMode: BootModeSchema,
  steps: z.array(ConversionStepSchema),
});
export type ConversionReport = z.infer<typeof ConversionReportSchema>;

export const ImageVerificationSchema = z.object({
  status: z.enum(["unverified", "booted", "failed"]),
  bootSeconds: z.number().nonnegative().optional(),
  consoleLog: z.string().optional(),
  reachedMultiUser: z.boolean().optional(),
  mountedAll: z.boolean().optional(),
  verifiedAt: z.string().optional(),
  reason: z.string().optional(),
});
export type ImageVerification = z.infer<typeof ImageVerificationSchema>;

export const ImageDiskSchema = z.object({
  key: z.string(),
  /** File name inside the image folder. */
  file: z.string(),
  format: z.enum(["qcow2", "raw"]),
  virtualSizeBytes: z.number().int().positive(),
});
export type ImageDisk = z.infer<typeof ImageDiskSchema>;

export const ImageManifestSchema = z.object({
  name: ImageNameSchema,
  region: z.string().min(1),
  disks: z.array(ImageDiskSchema).min(1),
  bootMode: BootModeSchema,
  /** Mount points of the migrated system with the filesystem UUID each should find. */
  mounts: z.array(z.object({ mountPoint: z.string(), uuid: z.string(), fs: z.string(), disk: z.string() })).default([]),
  source: z.object({
    os: z.string(),
    kernel: z.string().nullable(),
    usedBytes: z.number().int().nonnegative(),
    systemDiskBytes: z.number().int().nonnegative(),
  }),
  conversion: ConversionReportSchema.nullable(),
  createdAt: z.string(),
  verification: ImageVerificationSchema,
});
export type ImageManifest = z.infer<typeof ImageManifestSchema>;

export const ImageFindingSchema = z.object({
  severity: z.enum(["Critical", "Warning"]),
  code: z.string(),
  message: z.string(),
  fix: z.string(),
});
export type ImageFinding = z.infer<typeof ImageFindingSchema>;

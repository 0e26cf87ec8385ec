// client_data: what a one-shot migration needs to resume after any stop, as
// go2aliyun_client keeps it — the intermediate instance, the job, the image
// name and region, and how far each disk got. It is a JSON file in the
// workdir, replaced atomically and readable by root only.
//
// It never holds secrets. The per-job token lives in `.client_token` (0600)
// beside it, so client_data can be shown or attached to a support request
// as is; the AccessKey is never stored anywhere.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { HoistError, type UserConfig } from "@hoist/protocol";
import { z } from "zod";
import { workdirPaths, writeFileAtomic } from "./workdir";

export const CLIENT_DATA_VERSION = 1;
export const MIGRATION_STAGES = ["PrepareForRsync", "DoRsync", "CreateImage", "Finished"] as const;
export type MigrationStage = (typeof MIGRATION_STAGES)[number];

export const IntermediateInstanceSchema = z.strictObject({
  provider: z.string().min(1),
  instanceId: z.string().min(1),
  host: z.string().min(1),
  controlPort: z.number().int().min(1).max(65535),
  dataPort: z.number().int().min(1).max(65535),
  /** SHA-256 of the receiver's certificate, lowercase hex. */
  fingerprint: z.string().regex(/^[0-9a-f]{64}$/),
});
export type IntermediateInstance = z.infer<typeof IntermediateInstanceSchema>;

export const DiskProgressSchema = z.strictObject({
  /** "system" or "data<N>" for data_disk_index N. */
  key: z.string().regex(/^(system|data([1-9]|1[0-6]))$/),
  sizeGiB: z.number().int().positive().nullable(),
  srcPath: z.string(),
  state: z.enum(["pending", "copying", "done"]),
  bytesDone: z.number().int().nonnegative(),
  bytesTotal: z.number().int().nonnegative().nullable(),
  updatedAt: z.string(),
});
export type DiskProgress = z.infer<typeof DiskProgressSchema>;

export const ClientDataSchema = z.strictObject({
  version: z.literal(CLIENT_DATA_VERSION),
  jobId: z.string().nullable(),
  imageName: z.string(),
  region: z.string(),
  /** Hash of the settings that cannot change once the target disks exist. */
  settingsHash: z.string().regex(/^[0-9a-f]{64}$/),
  stage: z.enum(MIGRATION_STAGES),
  intermediateInstance: IntermediateInstanceSchema.nullable(),
  disks: z.array(DiskProgressSchema),
  imageId: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type ClientData = z.infer<typeof ClientDataSchema>;

/**
 * Disk sizes, their sources, the target filesystem and layout and the region fix the
 * intermediate instance's disks, so a change to any of them needs a fresh start.
 */
export function settingsHash(settings: UserConfig): string {
  const disks = [...settings.data_disks]
    .sort((a, b) => a.data_disk_index - b.data_disk_index)
    .map((d) => [d.data_disk_index, d.data_disk_size ?? null, d.src_path]);
  // The disk layout switches join only when on, so client_data written before they existed still resumes.
  const layout = { ...(settings.lvm ? { lvm: true } : {}), ...(settings.separate_boot ? { separateBoot: true } : {}) };
  const fixed = { region: settings.region_id, system: settings.system_disk_size, disks, filesystem: settings.filesystem, ...layout };
  return createHash("sha256").update(JSON.stringify(fixed)).digest("hex");
}

export function newClientData(settings: UserConfig, now = new Date()): ClientData {
  const at = now.toISOString();
  const disk = (key: string, sizeGiB: number | null, srcPath: string): DiskProgress => ({ key, sizeGiB, srcPath, state: "pending", bytesDone: 0, bytesTotal: null, updatedAt: at });
  return {
    version: CLIENT_DATA_VERSION,
    jobId: null,
    imageName: settings.image_name,
    region: settings.region_id,
    settingsHash: settingsHash(settings),
    stage: "PrepareForRsync",
    intermediateInstance: null,
    disks: [disk("system", settings.system_disk_size, "/"), ...settings.data_disks.map((d) => disk(`data${d.data_disk_index}`, d.data_disk_size ?? null, d.src_path))],
    imageId: null,
    createdAt: at,
    updatedAt: at,
  };
}

const corrupt = (file: string, why: string, cause?: unknown) =>
  new HoistError("ClientData.Corrupt", `${file} cannot be used to resume: ${why}`, {
    fix: "Run hoist migrate --cleardata to start the migration from the beginning (a previous intermediate instance, if any, must then be released by hand).",
    cause,
  });

/** The saved state, or undefined when there is none (no file, or the empty file a fresh workdir ships with). */
export function loadClientData(workdir: string): ClientData | undefined {
  const file = workdirPaths(workdir).clientData;
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, "utf8");
  if (text.trim() === "" || text.trim() === "{}") return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw corrupt(file, "it is not valid JSON", e);
  }
  const parsed = ClientDataSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw corrupt(file, `${issue?.path.join(".") || "the document"}: ${issue?.message ?? "unexpected content"}`);
  }
  return parsed.data;
}

/**
 * Saves the state atomically with mode 0600. `secrets` are checked once more
 * here: a value that must never be stored makes the save fail loudly.
 */
export function saveClientData(workdir: string, data: ClientData, secrets: readonly string[] = [], now = new Date()): ClientData {
  const next = ClientDataSchema.parse({ ...data, updatedAt: now.toISOString() });
  const text = `${JSON.stringify(next, null, 2)}\n`;
  for (const s of secrets) {
    if (s.length >= 4 && text.includes(s)) {
      throw new HoistError("ClientData.SecretLeak", "A secret value was about to be written to client_data; nothing was saved.", { fix: "This is a bug in Hoist; please report it." });
    }
  }
  writeFileAtomic(workdirPaths(workdir).clientData, text);
  return next;
}

/** Removes the resume state and the job token (--cleardata). */
export function clearClientData(workdir: string): void {
  const paths = workdirPaths(workdir);
  rmSync(paths.clientData, { force: true });
  rmSync(paths.clientToken, { force: true });
}

/** Refuses to resume with settings that no longer match the disks already made (seed FAQ 9). */
export function assertSettingsUnchanged(data: ClientData, settings: UserConfig): void {
  if (data.settingsHash === settingsHash(settings)) return;
  throw new HoistError(
    "ClientData.SettingsChanged",
    "The disk sizes, data disk paths, filesystem or region differ from those of the migration recorded in client_data; the target disks were already made with the old values.",
    { fix: "Put the previous values back to resume, or run hoist migrate --cleardata to start again with the new ones.", details: { stage: data.stage, jobId: data.jobId } },
  );
}

/** Loads the state to resume, or starts a new one when there is none. Nothing is written. */
export function resumeOrStart(workdir: string, settings: UserConfig, now = new Date()): { data: ClientData; resumed: boolean } {
  const data = loadClientData(workdir);
  if (!data) return { data: newClientData(settings, now), resumed: false };
  assertSettingsUnchanged(data, settings);
  return { data: { ...data, imageName: settings.image_name }, resumed: true };
}

export function updateDisk(data: ClientData, key: string, patch: Partial<Pick<DiskProgress, "state" | "bytesDone" | "bytesTotal">>, now = new Date()): ClientData {
  if (!data.disks.some((d) => d.key === key)) throw new HoistError("ClientData.UnknownDisk", `client_data has no disk ${key}`, { details: { key } });
  return { ...data, disks: data.disks.map((d) => (d.key === key ? { ...d, ...patch, updatedAt: now.toISOString() } : d)) };
}

export function saveClientToken(workdir: string, token: string): void {
  writeFileAtomic(workdirPaths(workdir).clientToken, `${token}\n`);
}

export function loadClientToken(workdir: string): string | undefined {
  const file = workdirPaths(workdir).clientToken;
  if (!existsSync(file)) return undefined;
  const token = readFileSync(file, "utf8").trim();
  return token === "" ? undefined : token;
}

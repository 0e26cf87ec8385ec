// Rows of replication_jobs and job_images as the API shows them
// (DescribeReplicationJobs): settings spread at the top level, SMC's field
// names, progress and time remaining worked out from the counters.
import { type BusinessStatus, changedDuringCopyView, type DiskSourceChanges, type JobImage, type JobStatus, type ReplicationJob, type ReplicationJobSettings } from "@hoist/protocol";
import { iso, json } from "../store/rows";

export interface JobRow extends Record<string, unknown> {
  job_id: string;
  source_id: string;
  name: string;
  description: string;
  status: JobStatus;
  business_status: BusinessStatus | null;
  settings: unknown;
  settings_version: number;
  error_code: string | null;
  error_message: string | null;
  error_fix: string | null;
  status_info: string | null;
  bytes_done: number | string;
  bytes_total: number | string;
  speed_bps: number;
  run_count: number;
  next_run_at: unknown;
  instance_id: string | null;
  /** { run, disks } of the last completed copy (migration 6); absent in rows selected without it. */
  changed_during_copy?: unknown;
  created_at: unknown;
  started_at: unknown;
  ended_at: unknown;
}

export interface ImageRow extends Record<string, unknown> {
  job_id: string;
  image_name: string;
  region_id: string;
  run: number;
  verification: string;
  boot_seconds: number | null;
  created_at: unknown;
}

const isoOrNull = (v: unknown): string | null => (v == null ? null : iso(v));

export function toImage(r: ImageRow): JobImage {
  return { ImageName: r.image_name, RegionId: r.region_id, Run: r.run, CreationTime: iso(r.created_at), Verification: r.verification, BootSeconds: r.boot_seconds };
}

/**
 * How far the current run is, 0–100: copying is the bulk of a run (up to 90,
 * by bytes), making and checking the image the next step, cleaning up the last.
 */
export function jobProgress(status: JobStatus, business: BusinessStatus | null, bytesDone: number, bytesTotal: number): number {
  if (status === "Finished") return 100;
  switch (business) {
    case "Syncing":
      return bytesTotal > 0 ? Math.min(90, Math.floor((90 * Math.min(bytesDone, bytesTotal)) / bytesTotal)) : 0;
    case "Processing":
      return 90;
    case "Cleaning":
      return 95;
    default:
      return 0;
  }
}

function changedDuringCopyOf(v: unknown): ReplicationJob["ChangedDuringCopy"] {
  if (v == null) return null;
  const c = json<{ run: number; disks: DiskSourceChanges[] }>(v);
  return changedDuringCopyView(c.run, c.disks);
}

/** The row as the API shows it; `images` are this job's job_images rows. */
export function toJob(r: JobRow, images: readonly ImageRow[]): ReplicationJob {
  const settings = json<ReplicationJobSettings>(r.settings);
  const done = Number(r.bytes_done);
  const total = Number(r.bytes_total);
  const speed = Number(r.speed_bps);
  const own = images.filter((i) => i.job_id === r.job_id).sort((a, b) => a.run - b.run || iso(a.created_at).localeCompare(iso(b.created_at)));
  return {
    JobId: r.job_id,
    Name: r.name,
    Description: r.description,
    SourceId: r.source_id,
    ...settings,
    // Rows stored before jobs could target an existing instance have no InstanceId.
    InstanceId: settings.InstanceId ?? null,
    Status: r.status,
    BusinessStatus: r.business_status,
    Progress: jobProgress(r.status, r.business_status, done, total),
    // Speed counts bytes before compression, so the time left is (total − done) / speed as SMC shows it.
    Transfer:
      total > 0 || done > 0
        ? { BytesDone: done, BytesTotal: total, Speed: speed, TimeRemainingSeconds: speed > 0 ? Math.ceil(Math.max(0, total - done) / speed) : null }
        : null,
    ErrorCode: r.error_code,
    ErrorMessage: r.error_message,
    ErrorFix: r.error_fix,
    StatusInfo: r.status_info,
    ChangedDuringCopy: changedDuringCopyOf(r.changed_during_copy),
    TransitionInstanceId: r.instance_id,
    ImageId: own.at(-1)?.image_name ?? null,
    Images: own.map(toImage),
    RunCount: r.run_count,
    NextRunTime: isoOrNull(r.next_run_at),
    CreationTime: iso(r.created_at),
    StartTime: isoOrNull(r.started_at),
    EndTime: isoOrNull(r.ended_at),
  };
}

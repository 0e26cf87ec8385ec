// How `hoist jobs` shows a replication job to a person: the status line, the
// progress bar text, the detail page of `jobs show` and the rows of
// `jobs list`. Scripts use --json instead, which prints the API's own JSON.
import { type JobImage, type ReplicationJob, sourceChangesSummary } from "@hoist/protocol";
import { table } from "./codes";

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function bytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(2)} ${UNITS[u]}`;
}

export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  const h = Math.floor(s / 3600);
  return h < 48 ? `${h} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min` : `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** "Running (Syncing)", or just the Status when there is no BusinessStatus. */
export function statusText(job: Pick<ReplicationJob, "Status" | "BusinessStatus">): string {
  return job.BusinessStatus ? `${job.Status} (${job.BusinessStatus})` : job.Status;
}

/** `[########------------]  42%  4.20 GiB of 10.00 GiB, 112.00 MiB/s, 52 s left` */
export function progressText(job: Pick<ReplicationJob, "Progress" | "Transfer">, width = 20): string {
  const pct = Math.min(100, Math.max(0, job.Progress));
  const filled = Math.round((pct / 100) * width);
  const bar = `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${pct.toFixed(0).padStart(3)}%`;
  const t = job.Transfer;
  if (!t) return bar;
  const left = t.TimeRemainingSeconds === null ? "time left unknown" : `${duration(t.TimeRemainingSeconds)} left`;
  return `${bar}  ${bytes(t.BytesDone)} of ${bytes(t.BytesTotal)}, ${bytes(t.Speed)}/s, ${left}`;
}

export function errorLines(job: Pick<ReplicationJob, "ErrorCode" | "ErrorMessage" | "ErrorFix">): string {
  if (!job.ErrorCode && !job.ErrorMessage) return "";
  return `Last error:     ${job.ErrorCode ?? "?"}: ${job.ErrorMessage ?? ""}\n${job.ErrorFix ? `Fix:            ${job.ErrorFix}\n` : ""}`;
}

export function imagesTable(images: (JobImage & { JobId?: string })[], withJob: boolean): string {
  const head = ["IMAGE", ...(withJob ? ["JOB"] : []), "RUN", "VERIFICATION", "BOOT", "REGION", "CREATED"];
  return table([
    head,
    ...images.map((i) => [
      i.ImageName,
      ...(withJob ? [i.JobId ?? ""] : []),
      String(i.Run),
      i.Verification,
      i.BootSeconds === null ? "—" : `${i.BootSeconds.toFixed(1)} s`,
      i.RegionId,
      i.CreationTime,
    ]),
  ]);
}

function schedule(job: ReplicationJob): string {
  const when = job.ExecutionMethod === "Scheduled" && job.ScheduledStartTime ? `, starts at ${job.ScheduledStartTime}` : job.ExecutionMethod === "CreateOnly" ? ", started by hand" : "";
  if (job.RunOnce) return `once${when}`;
  const keep = job.MaxNumberOfImageToKeep === null ? "" : `, keeping ${job.MaxNumberOfImageToKeep} image(s)`;
  return `every ${job.Frequency ?? "?"} h${keep}${when}`;
}

function disks(job: ReplicationJob): string {
  const system = `system ${job.SystemDiskSize === null ? "sized by the server" : `${job.SystemDiskSize} GiB`}`;
  const data = job.DataDisks.map((d) => `disk${d.Index} ${d.Size === null ? "auto" : `${d.Size} GiB`} from ${d.SourcePath}${d.Block ? " (block)" : ""}`);
  return [system, ...data].join("; ");
}

/** What changed on the source during the last copy, and the first few of the paths the job names. */
export function changedDuringCopyLines(job: Pick<ReplicationJob, "ChangedDuringCopy">, shown = 10): string {
  const c = job.ChangedDuringCopy;
  if (!c) return "";
  const total = { appeared: c.Appeared, vanished: c.Vanished, changed: c.Changed };
  if (c.Appeared + c.Vanished + c.Changed === 0) return `Source changes: none during the copy of run ${c.Run}\n`;
  const paths = c.Disks.flatMap((d) => d.Paths);
  const lines = paths.slice(0, shown).map((p) => {
    const sizes = p.BytesBefore !== null && p.BytesAfter !== null && p.BytesBefore !== p.BytesAfter ? ` (${bytes(p.BytesBefore)} → ${bytes(p.BytesAfter)})` : "";
    return `  ${p.Change.padEnd(9)} ${p.Path}${p.Dir ? "/" : ""}${sizes}\n`;
  });
  const more = paths.length > shown ? `  … ${paths.length - shown} more named in --json\n` : "";
  return `Source changes: during the copy of run ${c.Run}: ${sourceChangesSummary(total)} (the next sync brings them over)\n${lines.join("")}${more}`;
}

export function jobDetail(job: ReplicationJob): string {
  const lines = [
    `${job.JobId}  ${job.Name}${job.Description ? ` — ${job.Description}` : ""}`,
    `Source:         ${job.SourceId}`,
    `Status:         ${statusText(job)}${job.StatusInfo ? ` — ${job.StatusInfo}` : ""}`,
    `Progress:       ${progressText(job)}`,
    `Runs:           ${job.RunCount}, ${schedule(job)}${job.NextRunTime ? `; next run ${job.NextRunTime}` : ""}`,
    `Image:          ${job.ImageName} in ${job.RegionId}${job.ImageId ? `; latest ${job.ImageId}` : ""}${job.VerifyImage ? "" : " (not boot-verified)"}`,
    ...(job.TargetType === "TargetInstance" && job.InstanceId ? [`Destination:    instance ${job.InstanceId} (its system disk is replaced by the image; its data disks take the copy)`] : []),
    `Disks:          ${disks(job)}; ${job.Filesystem}, boot ${job.BootMode}${job.Lvm ? ", LVM" : ""}`,
    `Transfer:       ${job.RateLimit ? `${job.RateLimit} Mbit/s` : "no rate limit"}, compression ${job.CompressLevel}, checksum ${job.Checksum ? "on" : "off"}, ${job.ParallelStreams} stream(s)`,
    ...(job.TransitionInstanceId ? [`Intermediate:   ${job.TransitionInstanceId}`] : []),
    ...(job.Tags.length ? [`Tags:           ${job.Tags.map((t) => (t.Value ? `${t.Key}=${t.Value}` : t.Key)).join(", ")}`] : []),
    `Created:        ${job.CreationTime}${job.StartTime ? `, started ${job.StartTime}` : ""}${job.EndTime ? `, ended ${job.EndTime}` : ""}${job.ValidTime ? `; valid until ${job.ValidTime}` : ""}`,
  ];
  let out = `${lines.join("\n")}\n${errorLines(job)}${changedDuringCopyLines(job)}`;
  out += job.Images.length ? `Images:\n${imagesTable(job.Images, false).trimEnd().replace(/^/gm, "  ")}\n` : "Images:         none yet\n";
  return out;
}

export function jobsTable(jobs: ReplicationJob[]): string {
  return table([
    ["JOB ID", "NAME", "SOURCE", "STATUS", "PROGRESS", "RUNS", "ERROR", "CREATED"],
    ...jobs.map((j) => [j.JobId, j.Name, j.SourceId, statusText(j), `${j.Progress.toFixed(0)}%`, String(j.RunCount), j.ErrorCode ?? "", j.CreationTime]),
  ]);
}

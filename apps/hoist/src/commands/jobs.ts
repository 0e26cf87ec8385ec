// `hoist jobs`: replication jobs on hoist server, in SMC's vocabulary. Each
// subcommand is one API call (watch is a loop of them); --json prints the
// API's answer as it came.
import { HoistError, type ModifyReplicationJobRequest, type ReplicationJob } from "@hoist/protocol";
import type { Command } from "commander";
import { type ApiFlags, apiClient, withApiFlags } from "./codes";
import { idValue } from "./flag-values";
import { type CreateFlags, createRequest, dataDiskFlag, destinationInstanceFlag, type ModifyFlags, modifyRequest, numberFlag, tagFlag, timeFlag, wholeNumberFlag } from "./job-flags";
import { jobDetail, jobsTable, progressText, statusText } from "./job-view";
import { untilFlag, watchJob } from "./job-watch";

const print = (text: string): void => void process.stdout.write(text);
/** Longer than any job runs, and short enough for a timer. */
const MAX_WATCH_SECONDS = 30 * 86_400;
const printJson = (value: unknown): void => print(`${JSON.stringify(value, null, 2)}\n`);
const jobPath = (id: string): string => `/v1/jobs/${encodeURIComponent(id)}`;

function oneLine(job: ReplicationJob): string {
  const progress = job.Status === "Running" ? `  ${progressText(job)}` : "";
  return `${job.JobId}  ${statusText(job)}${progress}\n`;
}

const ACTIONS: { name: "start" | "stop" | "retry" | "cancel"; description: string }[] = [
  { name: "start", description: "Start a job that is Ready (created with --create-only) or Stopped, or run a periodic job now" },
  { name: "stop", description: "Pause a Running job (its copy resumes where it stopped on start)" },
  { name: "retry", description: "Run a job in InError again from the step that failed" },
  { name: "cancel", description: "Cancel a job: stop it and release its intermediate instance; it will not run again" },
];

export function registerJobsCommand(program: Command): void {
  const jobs = program.command("jobs").description("Replication jobs on hoist server: migrate an imported source server into an image, once or periodically.");

  withApiFlags(
    jobs
      .command("create")
      .description("Create a replication job for a source server (it starts now unless --at or --create-only)")
      .requiredOption("--source <id>", "the source server (hoist sources list)")
      .option("--name <text>", "job name (default: from the source)")
      .option("--description <text>", "a note shown with the job")
      .option("--image-name <name>", "the image name; for periodic jobs, the prefix of each run's image")
      .option("--region <id>", "region of the image")
      .option("--system-disk-size <GiB>", "system disk size in GiB (default: what the source uses plus room)", wholeNumberFlag("--system-disk-size"))
      .option("--data-disk <index:size:/path>", "a data disk made from a folder of the source, e.g. 1:100:/mnt/data (size in GiB, empty for auto); repeatable", dataDiskFlag)
      .option(
        "--block-disk <index>",
        "copy data disk <index> by block (its SourcePath must be a partition of its own; it keeps its filesystem and UUID and cannot shrink); repeatable",
        (v: string, prev: number[] = []) => [...prev, wholeNumberFlag("--block-disk")(v)],
      )
      .option("--lvm", "rebuild the target disks as LVM")
      .option("--boot-mode <mode>", "boot mode of the image: auto, bios or uefi")
      .option("--filesystem <fs>", "filesystem of the target disks: ext4 or xfs")
      .option("--rate-limit <Mbit/s>", "bandwidth limit of the copy in Mbit/s (0: none)", numberFlag("--rate-limit"))
      .option("--compress-level <0-10>", "compression level of the copy (0: none)", wholeNumberFlag("--compress-level"))
      .option("--checksum", "verify copied files by checksum, not size and time")
      .option("--parallel-streams <n>", "parallel copy streams", wholeNumberFlag("--parallel-streams"))
      .option("--license-type <type>", "Aliyun or BYOL")
      .option("--instance-type <type>", "type of the intermediate instance")
      .option(
        "--destination-instance <id>",
        "migrate onto this existing ECS instance instead of making an image (TargetType TargetInstance, one run, hoist server --provider alibaba): its disks are snapshotted first, then replaced by the copy, and rolled back if the job is cancelled before it finishes or its boot check fails",
        destinationInstanceFlag,
      )
      .option("--tag <key=value>", "a tag on the job; repeatable", tagFlag)
      .option("--frequency <hours>", "periodic: an incremental sync and a new image every this many hours", wholeNumberFlag("--frequency"))
      .option("--keep <n>", "periodic: images to keep (needs --frequency)", wholeNumberFlag("--keep"))
      .option("--at <time>", "start at this ISO 8601 time (at least 10 minutes ahead), e.g. 2030-01-31T22:00:00Z", timeFlag("--at"))
      .option("--create-only", "create the job without starting it (start it with hoist jobs start)")
      .option("--valid-until <time>", "ISO 8601 time after which an unfinished job expires", timeFlag("--valid-until"))
      .option("--no-verify", "do not boot the image to prove it works"),
  ).action(async (opts: ApiFlags & CreateFlags) => {
    const body = createRequest(opts);
    const job = await apiClient(opts).request<ReplicationJob>("POST", "/v1/jobs", body);
    if (opts.json) return printJson(job);
    print(`Created replication job ${job.JobId} (${job.Name}) for ${job.SourceId}: ${statusText(job)}\nFollow it with: hoist jobs watch ${job.JobId}\n`);
  });

  withApiFlags(
    jobs
      .command("list")
      .description("List replication jobs, newest first")
      .option("--status <status>", "only jobs in this Status: Ready, Running, Stopped, InError, Finished, Waiting, Expired, Deleting")
      .option("--source <id>", "only jobs of this source server")
      .option("--name <text>", "only names containing this text")
      .option("--limit <n>", "at most this many (server default 100)", wholeNumberFlag("--limit"))
      .option("--offset <n>", "skip this many", wholeNumberFlag("--offset")),
  ).action(async (opts: ApiFlags & { status?: string; source?: string; name?: string; limit?: number; offset?: number }) => {
    const q = new URLSearchParams();
    if (opts.status !== undefined) q.set("status", opts.status);
    if (opts.source !== undefined) q.set("sourceId", opts.source);
    if (opts.name !== undefined) q.set("name", opts.name);
    if (opts.limit !== undefined) q.set("limit", String(opts.limit));
    if (opts.offset !== undefined) q.set("offset", String(opts.offset));
    const query = q.size ? `?${q}` : "";
    const res = await apiClient(opts).request<{ total: number; jobs: ReplicationJob[] }>("GET", `/v1/jobs${query}`);
    if (opts.json) return printJson(res);
    print(jobsTable(res.jobs));
    print(`${res.jobs.length} of ${res.total} job(s)\n`);
  });

  withApiFlags(jobs.command("show").description("Show one job: status, progress, last error with its fix, images").argument("<jobId>", "the job's id (hoist jobs list)", idValue("<jobId>"))).action(async (id: string, opts: ApiFlags) => {
    const job = await apiClient(opts).request<ReplicationJob>("GET", jobPath(id));
    if (opts.json) return printJson(job);
    print(jobDetail(job));
  });

  for (const action of ACTIONS) {
    withApiFlags(jobs.command(action.name).description(action.description).argument("<jobId>", "the job's id (hoist jobs list)", idValue("<jobId>"))).action(async (id: string, opts: ApiFlags) => {
      const job = await apiClient(opts).request<ReplicationJob>("POST", `${jobPath(id)}/${action.name}`);
      if (opts.json) return printJson(job);
      print(oneLine(job));
    });
  }

  withApiFlags(jobs.command("rm").description("Delete a job (Status Deleting, then gone); its images stay").argument("<jobId>", "the job's id (hoist jobs list)", idValue("<jobId>"))).action(async (id: string, opts: ApiFlags) => {
    const r = await apiClient(opts).request<{ JobId: string; Status: string }>("DELETE", jobPath(id));
    if (opts.json) return printJson(r);
    print(`Deleting replication job ${r.JobId}\n`);
  });

  withApiFlags(
    jobs
      .command("modify")
      .description("Change a job's settings; a running copy picks up rate, compression and checksum changes")
      .argument("<jobId>", "the job's id (hoist jobs list)", idValue("<jobId>"))
      .option("--name <text>", "new name")
      .option("--description <text>", "new description")
      .option("--rate-limit <Mbit/s>", "bandwidth limit in Mbit/s (0: none)", numberFlag("--rate-limit"))
      .option("--compress-level <0-10>", "compression level (0: none)", wholeNumberFlag("--compress-level"))
      .option("--checksum", "verify copied files by checksum")
      .option("--no-checksum", "compare copied files by size and time")
      .option("--frequency <hours>", "periodic jobs: hours between runs", wholeNumberFlag("--frequency"))
      .option("--keep <n>", "periodic jobs: images to keep", wholeNumberFlag("--keep"))
      .option("--valid-until <time>", "ISO 8601 time after which an unfinished job expires", timeFlag("--valid-until")),
  ).action(async (id: string, opts: ApiFlags & ModifyFlags) => {
    const body: ModifyReplicationJobRequest = modifyRequest(opts);
    const job = await apiClient(opts).request<ReplicationJob>("POST", `${jobPath(id)}/modify`, body);
    if (opts.json) return printJson(job);
    print(`Modified ${job.JobId}: ${Object.keys(body).join(", ")}\n`);
  });

  withApiFlags(
    jobs
      .command("watch")
      .description("Follow a job every 2 s until it reaches a Status (default Finished); non-zero exit with the job's error code if it fails")
      .argument("<jobId>", "the job's id (hoist jobs list)", idValue("<jobId>"))
      .option("--until <status>", "the Status to wait for", untilFlag, "Finished")
      .option("--timeout <s>", "give up after this many seconds, 1–2592000 (default: no limit)", wholeNumberFlag("--timeout"))
      .addHelpText(
        "after",
        `
Prints a line on each Status/BusinessStatus change and a progress line while the job runs
(with --json: the job's JSON, one line per change).

Exits 0 when the job reaches --until. Waiting for Finished, a periodic job counts as done when
it is Waiting after at least one run (RunCount ≥ 1): that run made its image and the job waits
for the next; if it already is, watch returns at once.

Exits 1 with "Error <code>" when the job will not get there on its own: InError (the job's own
ErrorCode and fix), Stopped (Watch.JobStopped), Expired (Watch.JobExpired), Deleting
(Watch.JobDeleted), another settled Status (Watch.JobEnded), or --timeout (Watch.TimedOut).
An unreachable server is retried for 30 s.`,
      ),
  ).action(async (id: string, opts: ApiFlags & { until: ReturnType<typeof untilFlag>; timeout?: number }) => {
    if (opts.timeout !== undefined && opts.timeout < 1) {
      throw new HoistError("Config.InvalidTimeout", `--timeout must be at least 1 second (got ${opts.timeout})`, { fix: "Pass --timeout <seconds>, or leave it out to wait as long as it takes." });
    }
    if (opts.timeout !== undefined && opts.timeout > MAX_WATCH_SECONDS) {
      throw new HoistError("Config.InvalidTimeout", `--timeout must be at most ${MAX_WATCH_SECONDS} seconds (30 days) (got ${opts.timeout})`, { fix: "Pass a shorter --timeout, or leave it out to wait as long as it takes." });
    }
    const job = await watchJob(apiClient(opts), id, { until: opts.until, timeout: opts.timeout, json: opts.json });
    if (!opts.json) print(`${job.JobId}  ${statusText(job)}${job.ImageId ? `; image ${job.ImageId}` : ""}\n`);
  });
}

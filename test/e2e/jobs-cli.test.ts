// `hoist jobs` and `hoist images` as an operator types them.
// Without a server: malformed flags are refused on this side with a stable
// code and a fix before any request is sent (the server given is a port
// nothing listens on, so a request would end in Server.Unreachable instead),
// and each --help names its flags.
// With `hoist server` and two sources imported by `hoist agent`: every flag
// reaches the job as its PascalCase field, the server's own refusals come
// through with their codes, `watch` follows a job that fails in conversion
// (a source tree without a kernel) to a non-zero exit with the job's
// ErrorCode, and follows a periodic job on a small Linux root through its
// first run to Waiting, after which `images list` shows the image.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseEverythingUnder } from "../helpers/cleanup";
import { freePort } from "../helpers/ports";
import { hoist, importedSourceId, type Spawned, spawnHoist, type StartedServer, startHoistServer, stop, until } from "../helpers/server-cli";
import { smallLinuxRoot } from "../helpers/small-linux";

let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  env = { HOIST_SERVER: `http://127.0.0.1:${await freePort()}`, HOIST_API_KEY: "hk_e2e-jobs-cli-not-a-real-key" };
}, 300_000);

describe("hoist jobs refuses malformed flags before calling the server", () => {
  const cases: { args: string[]; code: string; says: RegExp }[] = [
    { args: ["jobs", "create", "--source", "s-1", "--data-disk", "1:100:data"], code: "Config.InvalidDataDiskFlag", says: /index:size:\/path/ },
    { args: ["jobs", "create", "--source", "s-1", "--data-disk", "one:100:/data"], code: "Config.InvalidDataDiskFlag", says: /one:100:\/data/ },
    { args: ["jobs", "create", "--source", "s-1", "--system-disk-size", "40G"], code: "Config.InvalidNumber", says: /--system-disk-size must be a whole number/ },
    { args: ["jobs", "create", "--source", "s-1", "--compress-level", "max"], code: "Config.InvalidNumber", says: /--compress-level/ },
    { args: ["jobs", "create", "--source", "s-1", "--rate-limit", "100M"], code: "Config.InvalidNumber", says: /--rate-limit must be a number/ },
    { args: ["jobs", "create", "--source", "s-1", "--tag", "=web"], code: "Config.InvalidTagFlag", says: /key=value/ },
    { args: ["jobs", "create", "--source", "s-1", "--at", "tomorrow"], code: "Config.InvalidTime", says: /ISO 8601/ },
    { args: ["jobs", "create", "--source", "s-1", "--at", "2030-01-31T22:00:00"], code: "Config.InvalidTime", says: /with a zone/ },
    { args: ["jobs", "create", "--source", "s-1", "--valid-until", "2030-02-30T00:00:00Z"], code: "Config.InvalidTime", says: /--valid-until/ },
    { args: ["jobs", "create", "--source", "s-1", "--at", "2030-01-31T22:00:00Z", "--create-only"], code: "Config.ConflictingFlags", says: /--at and --create-only/ },
    { args: ["jobs", "create", "--source", "s-1", "--keep", "3"], code: "Config.KeepNeedsFrequency", says: /needs --frequency/ },
    { args: ["jobs", "modify", "j-1"], code: "Config.NothingToModify", says: /no setting/ },
    { args: ["jobs", "modify", "j-1", "--frequency", "daily"], code: "Config.InvalidNumber", says: /--frequency/ },
    { args: ["jobs", "list", "--limit", "ten"], code: "Config.InvalidNumber", says: /--limit/ },
    { args: ["jobs", "watch", "j-1", "--until", "Done"], code: "Config.InvalidStatus", says: /Ready, Running, Stopped, InError, Finished, Waiting, Expired, Deleting/ },
    { args: ["jobs", "watch", "j-1", "--timeout", "0"], code: "Config.InvalidTimeout", says: /at least 1 second/ },
  ];
  for (const c of cases) {
    it(`${c.args.slice(1).join(" ")} → ${c.code}`, async () => {
      const r = await hoist(c.args, env);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(`Error ${c.code}: `);
      expect(r.stderr).toMatch(c.says);
      expect(r.stderr).toMatch(/^Fix: \S/m);
      expect(r.stdout).toBe("");
    });
  }

  it("a well-formed command does go to the server (so the refusals above are this side's)", async () => {
    const r = await hoist(["jobs", "create", "--source", "s-1", "--data-disk", "1:100:/data", "--data-disk", "2::/srv", "--tag", "team=web", "--at", "2030-01-31T23:00:00+01:00", "--frequency", "24", "--keep", "3"], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Error Server.Unreachable");
    const images = await hoist(["images", "list"], env);
    expect(images.stderr).toContain("Error Server.Unreachable");
  });

  it("without a server or key it says how to give them", async () => {
    const noServer = await hoist(["jobs", "list"], { HOIST_SERVER: "", HOIST_API_KEY: "" });
    expect(noServer.stderr).toContain("Error Config.MissingServer");
    expect(noServer.stderr).toContain("Fix: Pass --server");
    const noKey = await hoist(["images", "list", "--server", env["HOIST_SERVER"] as string], { HOIST_API_KEY: "" });
    expect(noKey.stderr).toContain("Error Config.MissingApiKey");
  });

  it("a missing --source or job id is a usage error (exit 2)", async () => {
    const r = await hoist(["jobs", "create"], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("required option '--source <id>' not specified");
    expect(r.stderr).toContain("Error Cli.InvalidArguments");
    const show = await hoist(["jobs", "show"], env);
    expect(show.code).toBe(2);
  });
});

describe("--help names every flag", () => {
  const flags: Record<string, string[]> = {
    create: [
      "--source <id>",
      "--name",
      "--description",
      "--image-name",
      "--region",
      "--system-disk-size <GiB>",
      "--data-disk <index:size:/path>",
      "--lvm",
      "--boot-mode",
      "--filesystem",
      "--rate-limit <Mbit/s>",
      "--compress-level <0-10>",
      "--checksum",
      "--parallel-streams",
      "--license-type",
      "--instance-type",
      "--tag <key=value>",
      "--frequency <hours>",
      "--keep <n>",
      "--at <time>",
      "--create-only",
      "--valid-until <time>",
      "--no-verify",
      "--json",
    ],
    list: ["--status", "--source", "--name", "--limit", "--offset", "--json"],
    show: ["<jobId>", "--json"],
    modify: ["--rate-limit", "--compress-level", "--checksum", "--no-checksum", "--name", "--description", "--frequency", "--keep", "--json"],
    watch: ["--until <status>", "--timeout <s>", "every 2 s", "RunCount", "Watch.TimedOut", "--json"],
  };
  for (const [sub, want] of Object.entries(flags)) {
    it(`hoist jobs ${sub} --help`, async () => {
      const r = await hoist(["jobs", sub, "--help"], env);
      expect(r.code).toBe(0);
      for (const f of want) expect(r.stdout).toContain(f);
      expect(r.stdout).toContain("--server <url>");
    });
  }

  it("hoist jobs --help lists the subcommands; hoist images list --help says what it shows", async () => {
    const jobs = await hoist(["jobs", "--help"], env);
    for (const sub of ["create", "list", "show", "start", "stop", "retry", "cancel", "rm", "modify", "watch"]) expect(jobs.stdout).toMatch(new RegExp(`^  ${sub} `, "m"));
    const images = await hoist(["images", "list", "--help"], env);
    expect(images.stdout).toContain("boot");
    expect(images.stdout).toContain("--json");
  });
});

interface Job {
  JobId: string;
  Name: string;
  Status: string;
  BusinessStatus: string | null;
  RunCount: number;
  ErrorCode: string | null;
  ErrorFix: string | null;
  [field: string]: unknown;
}

describe("hoist jobs and hoist images against hoist server", () => {
  const base = mkdtempSync("/var/tmp/hoist-e2e-jobs-cli-");
  const home = join(base, "home");
  let server: StartedServer | undefined;
  const agents: Spawned[] = [];
  let api: NodeJS.ProcessEnv = {};
  let bare = "";
  let debian = "";

  async function ok(args: string[]): Promise<string> {
    const r = await hoist(args, api);
    expect(r.code, `hoist ${args.join(" ")}: ${r.stderr}`).toBe(0);
    return r.stdout;
  }
  const json = async <T>(args: string[]): Promise<T> => JSON.parse(await ok([...args, "--json"])) as T;

  async function importSource(root: string, name: string): Promise<string> {
    const { code } = await json<{ code: string }>(["codes", "create", "--uses", "1", "--validity-days", "1"]);
    const agent = spawnHoist(["agent", "--server", server?.url as string, "--source-root", root, "--activation-code", code, "--state-dir", join(base, `agent-${name}`), "--name", name]);
    agents.push(agent);
    return await importedSourceId(agent);
  }

  beforeAll(async () => {
    // A tree with GRUB for BIOS but no kernel: it copies, then its conversion fails.
    const tree = join(base, "bare");
    mkdirSync(join(tree, "etc"), { recursive: true });
    mkdirSync(join(tree, "usr/lib/grub/i386-pc"), { recursive: true });
    mkdirSync(join(tree, "srv"), { recursive: true });
    writeFileSync(join(tree, "etc/os-release"), 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n');
    writeFileSync(join(tree, "etc/hostname"), "bare-1\n");
    writeFileSync(join(tree, "usr/lib/grub/i386-pc/normal.mod"), "not a real module\n");
    writeFileSync(join(tree, "srv/data"), Buffer.alloc(8 * 2 ** 20, 7));
    // A small root that converts like the Debian fixture, with enough data that the rate-limited copy shows progress for a few seconds.
    const source = await smallLinuxRoot(join(base, "debian"));
    mkdirSync(join(source, "srv"));
    writeFileSync(join(source, "srv/blob.bin"), randomBytes(32 * 2 ** 20));

    // One "hour" of a job's Frequency lasts 60 s here, so a periodic job waits a minute between runs.
    server = await startHoistServer(["--data-dir", join(base, "server"), "--heartbeat-seconds", "1", "--offline-after-seconds", "60", "--hour-seconds", "60"], {
      HOIST_HOME: home,
      HOIST_IMAGE_STORE: join(base, "images"),
    });
    api = { HOIST_SERVER: server.url, HOIST_API_KEY: server.apiKey };
    bare = await importSource(tree, "bare-1");
    debian = await importSource(source, "debian-1");
  }, 20 * 60_000);

  afterAll(async () => {
    for (const a of agents) await stop(a, "SIGKILL");
    await stop(server, "SIGKILL");
    releaseEverythingUnder(base, home);
  });

  it("create maps every flag to the job's field; list, show, modify, watch and rm work on it", async () => {
    const validUntil = new Date(Date.now() + 7 * 86_400_000);
    validUntil.setUTCMilliseconds(0);
    const job = await json<Job>([
      "jobs", "create", "--source", bare, "--name", "bare nightly", "--description", "cli test", "--image-name", "bare-img",
      "--system-disk-size", "30", "--data-disk", "1:25:/srv", "--boot-mode", "bios", "--filesystem", "xfs", "--rate-limit", "40",
      "--compress-level", "3", "--checksum", "--parallel-streams", "2", "--license-type", "BYOL", "--tag", "team=web", "--tag", "tier",
      "--frequency", "24", "--keep", "2", "--create-only", "--valid-until", validUntil.toISOString().replace(".000Z", "Z"), "--no-verify",
    ]);
    expect(job).toMatchObject({
      SourceId: bare, Name: "bare nightly", Description: "cli test", ImageName: "bare-img", SystemDiskSize: 30,
      DataDisks: [{ Index: 1, Size: 25, SourcePath: "/srv", Block: false }], BootMode: "bios", Filesystem: "xfs", RateLimit: 40,
      CompressLevel: 3, Checksum: true, ParallelStreams: 2, LicenseType: "BYOL", Tags: [{ Key: "team", Value: "web" }, { Key: "tier", Value: "" }],
      RunOnce: false, Frequency: 24, MaxNumberOfImageToKeep: 2, ExecutionMethod: "CreateOnly", VerifyImage: false, Status: "Ready",
    });
    expect(Date.parse(job["ValidTime"] as string)).toBe(validUntil.getTime());
    const id = job.JobId;

    const listed = await ok(["jobs", "list"]);
    expect(listed).toMatch(new RegExp(`^${id}\\s+bare nightly\\s+${bare}\\s+Ready\\s+0%\\s+0`, "m"));
    expect(listed).toContain("1 of 1 job(s)");
    expect((await json<{ total: number }>(["jobs", "list", "--status", "Ready", "--source", bare])).total).toBe(1);
    expect((await json<{ total: number }>(["jobs", "list", "--status", "Running"])).total).toBe(0);
    expect((await json<{ jobs: Job[] }>(["jobs", "list", "--name", "nightly", "--limit", "1", "--offset", "0"])).jobs.map((j) => j.JobId)).toEqual([id]);

    const shown = await ok(["jobs", "show", id]);
    expect(shown).toMatch(/^Status: +Ready$/m);
    expect(shown).toMatch(/^Runs: +0, every 24 h, keeping 2 image\(s\), started by hand$/m);
    expect(shown).toContain("disk1 25 GiB from /srv");
    expect(shown).toMatch(/^Transfer: +40 Mbit\/s, compression 3, checksum on, 2 stream\(s\)$/m);
    expect(shown).toMatch(/^Tags: +team=web, tier$/m);

    expect(await ok(["jobs", "modify", id, "--rate-limit", "0", "--no-checksum", "--keep", "3", "--name", "bare weekly"])).toContain("RateLimit, Checksum, MaxNumberOfImageToKeep");
    expect(await json<Job>(["jobs", "show", id])).toMatchObject({ Name: "bare weekly", RateLimit: 0, Checksum: false, MaxNumberOfImageToKeep: 3, CompressLevel: 3 });

    // Already where it is awaited: at once. Never getting there: the timeout, with its code.
    const ready = await hoist(["jobs", "watch", id, "--until", "Ready"], api);
    expect(ready.code, ready.stderr).toBe(0);
    expect(ready.stdout).toMatch(/Ready$/m);
    const started = Date.now();
    const timedOut = await hoist(["jobs", "watch", id, "--until", "Running", "--timeout", "3"], api);
    expect(timedOut.code).toBe(1);
    expect(timedOut.stderr).toContain("Error Watch.TimedOut: ");
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);

    const rm = await ok(["jobs", "rm", id]);
    expect(rm).toBe(`Deleting replication job ${id}\n`);
    await until("the job to be gone", async () => ((await json<{ total: number }>(["jobs", "list"])).total === 0 ? true : undefined), 60_000);
  }, 120_000);

  it("the server's refusals come through with their codes and fixes", async () => {
    const cases: { args: string[]; code: string }[] = [
      { args: ["jobs", "create", "--source", bare, "--compress-level", "11", "--create-only"], code: "ReplicationJob.InvalidCompressLevel" },
      { args: ["jobs", "create", "--source", bare, "--frequency", "200", "--create-only"], code: "ReplicationJob.InvalidFrequency" },
      { args: ["jobs", "create", "--source", "s-nosuchsource", "--create-only"], code: "SourceServer.NotFound" },
      { args: ["jobs", "show", "j-nosuchjob"], code: "ReplicationJob.NotFound" },
      { args: ["jobs", "list", "--limit", "5000"], code: "Api.InvalidParameter" },
    ];
    for (const c of cases) {
      const r = await hoist(c.args, api);
      expect(r.code, `${c.args.join(" ")}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toContain(`Error ${c.code}: `);
      expect(r.stderr).toMatch(/^Fix: \S/m);
    }
    const job = await json<Job>(["jobs", "create", "--source", bare, "--create-only"]);
    const busy = await hoist(["jobs", "create", "--source", bare, "--create-only"], api);
    expect(busy.stderr).toContain("Error ReplicationJob.SourceBusy");
    const stopReady = await hoist(["jobs", "stop", job.JobId], api);
    expect(stopReady.stderr).toContain("Error ReplicationJob.InvalidStatus");
    await ok(["jobs", "rm", job.JobId]);
    await until("the job to be gone", async () => ((await json<{ total: number }>(["jobs", "list"])).total === 0 ? true : undefined), 60_000);
  }, 120_000);

  it("watch follows a job that fails in conversion and exits non-zero with the job's ErrorCode; show gives the fix", async () => {
    // 8 MiB at 8 Mbit/s: the copy lasts several polls.
    const created = await json<Job>(["jobs", "create", "--source", bare, "--boot-mode", "bios", "--rate-limit", "8", "--no-verify"]);
    const watched = await hoist(["jobs", "watch", created.JobId, "--timeout", "600", "--json"], api);
    expect(watched.code).toBe(1);
    const seen = watched.stdout.trim().split("\n").map((l) => JSON.parse(l) as Job);
    expect(seen.map((j) => j.JobId)).toEqual(seen.map(() => created.JobId));
    expect(seen.map((j) => j.BusinessStatus)).toContain("Syncing");
    const last = seen.at(-1) as Job;
    expect(last.Status).toBe("InError");
    expect(last.ErrorCode).toMatch(/^Convert\./);
    expect(watched.stderr).toContain(`Error ${last.ErrorCode}: `);
    expect(watched.stderr).toContain(`Fix: ${last.ErrorFix}`);

    const shown = await ok(["jobs", "show", created.JobId]);
    expect(shown).toMatch(/^Status: +InError \(Processing\)/m);
    expect(shown).toContain(`Last error:     ${last.ErrorCode}: `);
    expect(shown).toMatch(/^Fix: +\S/m);
    expect(shown).toMatch(/^Progress: +\[#+-*\] +\d+% +[\d.]+ MiB of [\d.]+ MiB/m);

    const retried = await ok(["jobs", "retry", created.JobId]);
    expect(retried).toMatch(new RegExp(`^${created.JobId}  Running`));
    const again = await hoist(["jobs", "watch", created.JobId, "--timeout", "600"], api);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`Error ${last.ErrorCode}: `);
    expect(await ok(["jobs", "cancel", created.JobId])).toMatch(new RegExp(`^${created.JobId}  Deleting`));
    await until("the job to be gone", async () => ((await json<{ total: number }>(["jobs", "list"])).total === 0 ? true : undefined), 120_000);
  }, 25 * 60_000);

  it("watch follows a periodic job through its first run and exits 0 when it waits for the next; images list shows the image", async () => {
    const created = await json<Job>(["jobs", "create", "--source", debian, "--image-name", "deb", "--boot-mode", "bios", "--frequency", "1", "--keep", "1", "--rate-limit", "40", "--no-verify"]);
    const id = created.JobId;
    const watched = await hoist(["jobs", "watch", id, "--timeout", "1200"], api);
    expect(watched.code, watched.stderr).toBe(0);
    const lines = watched.stdout.trim().split("\n");
    const at = (re: RegExp): number => lines.findIndex((l) => re.test(l));
    expect(at(/ {2}Running \(Syncing\)/)).toBeGreaterThanOrEqual(0);
    expect(at(/ {2}Running \(Processing\)/)).toBeGreaterThan(at(/ {2}Running \(Syncing\)/));
    expect(at(new RegExp(`^\\d\\d:\\d\\d:\\d\\d  ${id}  Waiting`))).toBeGreaterThan(at(/ {2}Running \(Processing\)/));
    // Progress lines while copying: a bar, bytes of bytes, a speed.
    expect(lines.some((l) => /\[[#-]{20}\] +\d+% +[\d.]+ [KMG]iB of [\d.]+ [KMG]iB, [\d.]+ [KMG]?i?B\/s, /.test(l))).toBe(true);
    expect(lines.at(-1)).toBe(`${id}  Waiting; image deb-r1`);

    const table = await ok(["images", "list"]);
    expect(table).toMatch(new RegExp(`^deb-r1\\s+${id}\\s+1\\s+skipped\\s+—\\s+`, "m"));
    const listed = await json<{ images: { ImageName: string; JobId: string; Run: number; Verification: string }[] }>(["images", "list", "--job", id]);
    expect(listed.images).toEqual([expect.objectContaining({ ImageName: "deb-r1", JobId: id, Run: 1, Verification: "skipped" })]);
    expect((await json<{ images: unknown[] }>(["images", "list", "--job", "j-other"])).images).toEqual([]);

    // Waiting is a pause between runs; stopped, the job will not run on, and watch says so.
    expect(await ok(["jobs", "stop", id])).toMatch(new RegExp(`^${id}  Stopped`));
    const stopped = await hoist(["jobs", "watch", id], api);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain("Error Watch.JobStopped: ");
    expect(stopped.stderr).toContain(`Fix: Start it again with hoist jobs start ${id}`);
    await ok(["jobs", "cancel", id]);
    await until("the job to be gone", async () => ((await json<{ total: number }>(["jobs", "list"])).total === 0 ? true : undefined), 120_000);
    expect((await json<{ images: unknown[] }>(["images", "list"])).images).toHaveLength(1);
  }, 25 * 60_000);
});

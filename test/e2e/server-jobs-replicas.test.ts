// Two `hoist server` replicas on one PostgreSQL share a replication job: the
// job is created through one, its agent reports to the other, one replica is
// killed (SIGKILL) and started again while the agent copies, and the job still
// finishes with every step of its run done exactly once. Everything is copied
// by block: the source's / is an ext4 partition of its own holding a real
// Debian 12 (SystemDiskParts [{ Path: "/", Block: true }]) and its /mnt/disk1
// an xfs partition of its own (DataDisks[].Block). The job's image is booted
// and verified; its system disk carries the source's root filesystem (same
// UUID, grown, fsck clean, with a file written before the job) and its data
// disk that very xfs, grown, with its files.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openPostgres } from "@hoist/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseEverythingUnder } from "../helpers/cleanup";
import { debianExt4Image } from "../helpers/debian-fixture";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { type Job, type Spawned, serverApi, spawnHoist, type StartedServer, startHoistServer, stop } from "../helpers/server-cli";

const base = mkdtempSync("/var/tmp/hoist-e2e-replicas-");
const home = join(base, "home");
const images = join(base, "images");
const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
let dataUuid = "";
let rootUuid = "";
const marker = `written before the job ${randomBytes(8).toString("hex")}\n`;
const blob = randomBytes(8 * 2 ** 20);
const source = join(base, "source");
let pg: TestPostgres | undefined;
let env: NodeJS.ProcessEnv = {};
const replicas: (StartedServer | undefined)[] = [undefined, undefined];
let agent: Spawned | undefined;
let apiKey = "";
/** The API through replica 0 or 1. */
const viaReplica = [0, 1].map((i) =>
  serverApi(
    () => replicas[i],
    () => apiKey,
  ),
);
const api = <T>(i: number, method: string, path: string, body?: unknown) => viaReplica[i]!.call<T>(method, path, body);

async function replica(i: number): Promise<StartedServer> {
  const s = await startHoistServer(["--heartbeat-seconds", "1", "--offline-after-seconds", "60", "--log-level", "debug"], { ...env, ...(apiKey ? { HOIST_API_KEY: apiKey } : {}) });
  replicas[i] = s;
  return s;
}

beforeAll(async () => {
  pg = await startPostgres();
  env = { DATABASE_URL: pg.url, HOIST_HOME: home, HOIST_IMAGE_STORE: images };
  // /: an ext4 partition of its own (a loop device) holding the Debian tree, mounted and in use while it is copied.
  const rootImage = await debianExt4Image(join(base, "root.img"), 3);
  const rootDev = sh("losetup", ["--find", "--show", rootImage]).trim();
  rootUuid = sh("blkid", ["-p", "-o", "value", "-s", "UUID", rootDev]).trim();
  mkdirSync(source, { recursive: true });
  sh("mount", [rootDev, source]);
  writeFileSync(join(source, "etc/hostname"), "replicated\n");
  writeFileSync(join(source, "etc/hoist-block-root"), marker);
  // /mnt/disk1: its own xfs partition (a loop device), mounted and in use while it is copied.
  const disk1 = join(base, "disk1.img");
  sh("truncate", ["-s", String(400 * 2 ** 20), disk1]);
  sh("mkfs.xfs", ["-f", "-q", disk1]);
  const dev = sh("losetup", ["--find", "--show", disk1]).trim();
  dataUuid = sh("blkid", ["-p", "-o", "value", "-s", "UUID", dev]).trim();
  mkdirSync(join(source, "mnt/disk1"), { recursive: true });
  sh("mount", [dev, join(source, "mnt/disk1")]);
  writeFileSync(join(source, "mnt/disk1/blob.bin"), blob);
  mkdirSync(join(source, "mnt/disk1/etc"));
  writeFileSync(join(source, "mnt/disk1/etc/app.conf"), "replicated by block\n");
  // The first replica creates the admin key; the second starts with it.
  const first = await replica(0);
  apiKey = first.apiKey as string;
  await replica(1);
  const code = await api<{ code: string }>(1, "POST", "/v1/activation-codes", { uses: 1 });
  agent = spawnHoist(["agent", "--server", first.url, "--source-root", source, "--activation-code", code.body.code, "--state-dir", join(base, "agent")]);
  await agent.waitFor(/Successfully!/, 120_000);
}, 20 * 60_000);

afterAll(async () => {
  await stop(agent, "SIGKILL");
  for (const r of replicas) await stop(r, "SIGKILL");
  releaseEverythingUnder(base, home);
  await pg?.stop();
});

describe("two hoist server replicas on one PostgreSQL", () => {
  it("finish a job together, each step once, though one of them is killed mid-copy", async () => {
    const sources = await api<{ sources: { sourceId: string }[] }>(0, "GET", "/v1/sources");
    const sourceId = sources.body.sources[0]?.sourceId as string;
    const created = await api<Job>(1, "POST", "/v1/jobs", {
      SourceId: sourceId,
      ImageName: "replicated",
      SystemDiskSize: 20,
      SystemDiskParts: [{ Path: "/", Block: true }],
      DataDisks: [{ Index: 1, Size: 20, SourcePath: "/mnt/disk1", Block: true }],
      RateLimit: 80,
      VerifyImage: true,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.JobId;
    const poll = (i: number, done: (j: Job) => boolean, ms: number) => viaReplica[i]!.waitJob(id, done, ms);
    await poll(0, (j) => j.BusinessStatus === "Syncing" && (j.Transfer?.BytesDone ?? 0) > 10 * 2 ** 20, 10 * 60_000);
    await stop(replicas[1], "SIGKILL");
    await replica(1);
    const finished = await poll(1, (j) => j.Status === "Finished", 20 * 60_000);
    // The image was booted and the boot check passed.
    expect(finished.Images).toEqual([expect.objectContaining({ ImageName: "replicated", Verification: "booted" })]);
    expect(finished.Images[0]?.BootSeconds).toBeGreaterThan(0);

    const db = await openPostgres(pg?.url as string);
    try {
      const steps = await db.query<{ step: string; n: number; done: number }>(
        "select step, count(*)::int as n, count(*) filter (where outcome = 'done')::int as done from job_steps where job_id = $1 group by step order by step",
        [id],
      );
      expect(steps.map((s) => s.step).sort()).toEqual(["clean", "convert", "image", "prepare", "verify"]);
      for (const s of steps) expect(s, `step ${s.step}`).toMatchObject({ n: 1, done: 1 });
    } finally {
      await db.close();
    }

    // The image's system disk holds the source's ext4 itself: same UUID, clean, grown to the 20 GiB disk, the marker file equal.
    const out = join(base, "export");
    mkdirSync(out);
    execFileSync(join(import.meta.dirname, "../../apps/hoist/bin/hoist"), ["image", "export", "replicated", "--format", "raw", "--output", join(out, "img.raw"), "--image-store", images], { env: { ...process.env, ...env }, stdio: "pipe" });
    const partitions = (file: string) => (JSON.parse(sh("sfdisk", ["-J", file])) as { partitiontable: { partitions: { start: number; size: number }[] } }).partitiontable.partitions;
    const systemParts = partitions(join(out, "img.raw"));
    expect(systemParts).toHaveLength(1);
    const rootPart = systemParts[0] as { start: number; size: number };
    const rootLoop = sh("losetup", ["--find", "--show", "--read-only", "--offset", String(rootPart.start * 512), "--sizelimit", String(rootPart.size * 512), join(out, "img.raw")]).trim();
    const rootMnt = join(out, "root");
    mkdirSync(rootMnt);
    try {
      expect(sh("blkid", ["-p", "-o", "value", "-s", "UUID", rootLoop]).trim()).toBe(rootUuid);
      const fsck = spawnSync("e2fsck", ["-f", "-n", rootLoop], { encoding: "utf8" });
      expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
      sh("mount", ["-o", "ro", rootLoop, rootMnt]);
      try {
        expect(readFileSync(join(rootMnt, "etc/hoist-block-root"), "utf8")).toBe(marker);
        const size = Number(sh("df", ["--output=size", "-B1", rootMnt]).split("\n")[1]);
        expect(rootPart.size * 512).toBeGreaterThan(19 * 2 ** 30);
        expect(size).toBeGreaterThan(0.9 * rootPart.size * 512);
      } finally {
        sh("umount", [rootMnt]);
      }
    } finally {
      sh("losetup", ["-d", rootLoop]);
    }

    // The image's data disk is the source's xfs itself: same UUID, clean, grown to the 20 GiB disk, files equal.
    const raw = join(out, "img-disk1.raw");
    expect(existsSync(raw), `exported: ${sh("ls", [out])}`).toBe(true);
    const part = partitions(raw)[0] as { start: number; size: number };
    const loop = sh("losetup", ["--find", "--show", "--offset", String(part.start * 512), "--sizelimit", String(part.size * 512), raw]).trim();
    const mnt = join(out, "mnt");
    mkdirSync(mnt);
    try {
      expect(sh("blkid", ["-p", "-o", "value", "-s", "UUID", loop]).trim()).toBe(dataUuid);
      sh("xfs_repair", ["-n", loop]);
      sh("mount", ["-o", "ro,nouuid", loop, mnt]);
      try {
        expect(readFileSync(join(mnt, "etc/app.conf"), "utf8")).toBe("replicated by block\n");
        expect(readFileSync(join(mnt, "blob.bin")).equals(blob)).toBe(true);
        const size = Number(sh("df", ["--output=size", "-B1", mnt]).split("\n")[1]);
        expect(size).toBeGreaterThan(15 * 2 ** 30);
      } finally {
        sh("umount", [mnt]);
      }
    } finally {
      sh("losetup", ["-d", loop]);
    }
  }, 40 * 60_000);
});

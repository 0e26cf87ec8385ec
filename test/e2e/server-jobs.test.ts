// Replication jobs end to end, as an operator runs them: `hoist server` on its
// embedded database, a small Linux source (it converts like Debian 12; see
// test/helpers/small-linux.ts) imported with `hoist agent`, then
// - a one-time job that goes Preparing → Syncing → Processing to Finished with
//   its image, although the server is killed (SIGKILL) and started again while
//   the agent copies, and its rate limit is lifted mid-copy (the boot check of
//   a job's image is proven by server-jobs-replicas.test.ts);
// - a periodic job that makes an image each run from incremental syncs and
//   keeps only MaxNumberOfImageToKeep of them.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseEverythingUnder } from "../helpers/cleanup";
import { type Job, killAll, serverApi, type Spawned, type StartedServer, startHoistServer, startServerWithSource, stop, until } from "../helpers/server-cli";
import { smallLinuxRoot } from "../helpers/small-linux";

const base = mkdtempSync("/var/tmp/hoist-e2e-jobs-");
const home = join(base, "home");
const images = join(base, "images");
const source = join(base, "source");
const providerEnv = { HOIST_HOME: home, HOIST_IMAGE_STORE: images };
let server: StartedServer | undefined;
let agent: Spawned | undefined;
let apiKey = "";
let sourceId = "";
const { call: api, job: getJob, waitJob } = serverApi(
  () => server,
  () => apiKey,
);

function serverArgs(): string[] {
  return ["--data-dir", join(base, "server"), "--heartbeat-seconds", "1", "--offline-after-seconds", "60", "--hour-seconds", "10", "--log-level", "debug"];
}

const imagesInStore = (): string[] => (existsSync(images) ? readdirSync(images).filter((n) => existsSync(join(images, n, "manifest.json"))).sort() : []);
/** Reads a file from the root filesystem (the largest partition) of an image's system disk. */
function readFromImage(image: string, path: string): string {
  const dir = mkdtempSync(join(base, "export-"));
  const out = join(dir, "img.raw");
  execFileSync(join(import.meta.dirname, "../../apps/hoist/bin/hoist"), ["image", "export", image, "--format", "raw", "--output", out, "--image-store", images], { env: { ...process.env, ...providerEnv }, stdio: "pipe" });
  const raw = existsSync(out) ? out : join(dir, "img-system.raw");
  const table = JSON.parse(execFileSync("sfdisk", ["-J", raw], { encoding: "utf8" })) as { partitiontable: { sectorsize?: number; partitions: { start: number; size: number }[] } };
  const part = [...table.partitiontable.partitions].sort((a, b) => b.size - a.size)[0]!;
  const sector = table.partitiontable.sectorsize ?? 512;
  const dev = execFileSync("losetup", ["--find", "--show", "--read-only", "--offset", String(part.start * sector), "--sizelimit", String(part.size * sector), raw], { encoding: "utf8" }).trim();
  const mnt = join(dir, "mnt");
  mkdirSync(mnt);
  try {
    execFileSync("mount", ["-o", "ro", dev, mnt]);
    try {
      return readFileSync(join(mnt, path), "utf8");
    } finally {
      execFileSync("umount", [mnt]);
    }
  } finally {
    execFileSync("losetup", ["-d", dev]);
  }
}

const instances = (): string[] => (existsSync(join(home, "instances")) ? readdirSync(join(home, "instances")) : []);

beforeAll(async () => {
  await smallLinuxRoot(source);
  mkdirSync(join(source, "srv/app"), { recursive: true });
  writeFileSync(join(source, "srv/app/version"), "1\n");
  // Enough data that the copy is still running when the server is killed (40 Mbit/s: about 10 s).
  writeFileSync(join(source, "srv/app/blob.bin"), randomBytes(48 * 2 ** 20));

  ({ server, apiKey, agent, sourceId } = await startServerWithSource(serverArgs(), providerEnv, source, join(base, "agent")));
}, 20 * 60_000);

afterAll(async () => {
  await killAll(agent, server);
  releaseEverythingUnder(base, home);
});

describe("replication jobs on hoist server (embedded database)", () => {
  it("a one-time job reaches Finished with its image, through a server SIGKILL and a live rate-limit change", async () => {
    const created = await api<Job>("POST", "/v1/jobs", { SourceId: sourceId, Name: "web-1 once", ImageName: "web-once", SystemDiskSize: 20, RateLimit: 40, VerifyImage: false });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.JobId;
    expect(created.body).toMatchObject({ Status: "Running", BusinessStatus: "Preparing" });
    const source1 = await api<{ state: string }>("GET", `/v1/sources/${sourceId}`);
    expect(source1.body.state).toBe("InUse");
    const seen: string[] = [];

    // Kill the server while the agent copies: the copy goes on, and the restarted server takes the job up again.
    await waitJob(id, (j) => j.BusinessStatus === "Syncing" && (j.Transfer?.BytesDone ?? 0) > 20 * 2 ** 20, 10 * 60_000, { seen });
    // The agent knows the server by its address, so the new server listens where the old one did.
    const port = new URL(server?.url as string).port;
    await stop(server, "SIGKILL");
    await new Promise((r) => setTimeout(r, 3000));
    server = await startHoistServer([...serverArgs(), "--port", port], { ...providerEnv, HOIST_API_KEY: apiKey });
    const during = await getJob(id);
    expect(during.Status).toBe("Running");

    // Lift the rate limit while syncing: the agent restarts its copy with the new setting.
    const modified = await api<Job>("POST", `/v1/jobs/${id}/modify`, { RateLimit: 0 });
    expect(modified.status, JSON.stringify(modified.body)).toBe(200);
    expect(modified.body.RateLimit).toBe(0);

    const finished = await waitJob(id, (j) => j.Status === "Finished", 25 * 60_000, { seen });
    expect(seen).toEqual(expect.arrayContaining(["Running/Preparing", "Running/Syncing", "Running/Processing"]));
    expect(seen.indexOf("Running/Syncing")).toBeLessThan(seen.indexOf("Running/Processing"));
    expect(finished.ImageId).toBe("web-once");
    expect(finished.Images).toEqual([expect.objectContaining({ ImageName: "web-once", Run: 1, Verification: "skipped" })]);
    expect(imagesInStore()).toEqual(["web-once"]);
    // The image holds what the source held when the copy ran.
    expect(readFromImage("web-once", "srv/app/version")).toBe("1\n");
    // Success releases the intermediate instance and frees the source.
    expect(finished.TransitionInstanceId).toBeNull();
    expect(instances()).toEqual([]);
    expect((await api<{ state: string }>("GET", `/v1/sources/${sourceId}`)).body.state).toBe("Available");
  }, 40 * 60_000);

  it("a periodic job syncs incrementally each period and keeps only MaxNumberOfImageToKeep images", async () => {
    const created = await api<Job>("POST", "/v1/jobs", {
      SourceId: sourceId,
      Name: "web-1 nightly",
      ImageName: "web-nightly",
      SystemDiskSize: 20,
      RunOnce: false,
      Frequency: 1,
      MaxNumberOfImageToKeep: 1,
      VerifyImage: false,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.JobId;
    const seen: string[] = [];
    const first = await waitJob(id, (j) => j.Status === "Waiting" && j.RunCount === 1, 15 * 60_000, { seen });
    expect(first.Images.map((i) => i.ImageName)).toEqual(["web-nightly-r1"]);
    expect(first.Images[0]?.Verification).toBe("skipped");
    // Between runs the intermediate instance stays, so the next run copies only what changed.
    expect(instances()).toHaveLength(1);
    expect(imagesInStore()).toContain("web-nightly-r1");

    writeFileSync(join(source, "srv/app/version"), "2\n");
    const second = await waitJob(id, (j) => j.Status === "Waiting" && j.RunCount === 2, 15 * 60_000, { seen });
    expect(second.Images.map((i) => i.ImageName)).toEqual(["web-nightly-r2"]);
    expect(imagesInStore()).toContain("web-nightly-r2");
    expect(imagesInStore()).not.toContain("web-nightly-r1");
    expect(seen).toEqual(expect.arrayContaining(["Waiting/-", "Running/Preparing", "Running/Syncing", "Running/Processing"]));
    // The second run's image carries the change made between runs.
    expect(readFromImage("web-nightly-r2", "srv/app/version")).toBe("2\n");

    // Cancelling releases the intermediate instance and frees the source; the kept image stays.
    const cancelled = await api<Job>("POST", `/v1/jobs/${id}/cancel`);
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    await until("the job to be gone", async () => ((await api("GET", `/v1/jobs/${id}`)).status === 404 ? true : undefined), 120_000);
    expect(instances()).toEqual([]);
    expect(imagesInStore()).toContain("web-nightly-r2");
    expect((await api<{ state: string }>("GET", `/v1/sources/${sourceId}`)).body.state).toBe("Available");
  }, 40 * 60_000);
});

// Hostile conditions through the control plane, as an operator meets them:
// - `hoist server` SIGKILLed at random points (seeded; HOIST_FAULT_SEED
//   replays a run) and started again on its data folder, over and over, while
//   jobs prepare, copy, make images and clean up: every job still finishes,
//   each step of a run completes once, and every image holds an exact copy;
// - the intermediate instance released by mistake while a job copies: the job
//   says so (IntermediateInstance.Released, with a fix), and a retry starts a
//   new instance and ends with an exact image;
// - the intermediate instance's target disk filling up mid-copy: the job shows
//   Receiver.DiskFull with a fix, and a retry once space is freed sends only
//   what is missing and ends with an exact image.
// The source is a small Linux tree (the Debian fixture's /etc, kernel,
// initramfs and GRUB, enough to convert) with the fidelity tree and random
// files on a data disk; images are not booted (VerifyImage false).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { openPglite } from "@hoist/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseEverythingUnder } from "../helpers/cleanup";
import { seededRandom } from "../helpers/random";
import { withMountedFile } from "../helpers/mounts";
import { smallLinuxRoot } from "../helpers/small-linux";
import { buildFidelityTree, compareTrees } from "../helpers/tree";
import { HOIST, hoist, importedSourceId, type Job, serverApi, type Spawned, spawnHoist, startAgent, type StartedServer, startHoistServer, stop, until } from "../helpers/server-cli";

// A fixed seed and a few kills in the suite; bench/soak.sh --server-kills N runs more (HOIST_SERVER_KILLS).
const seed = Number(process.env.HOIST_FAULT_SEED ?? 20_261_206);
const KILLS = Number(process.env.HOIST_SERVER_KILLS ?? 6);
/** The data disk's folder on the source. */
const DATA = "srv/data";
const base = mkdtempSync("/var/tmp/hoist-faults-server-");
const home = join(base, "home");
const images = join(base, "images");
const providerEnv = { HOIST_HOME: home, HOIST_IMAGE_STORE: images };
const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: StartedServer | undefined;
/** Jobs whose steps must each have completed once per intermediate instance (prepare) or once (the others). */
const stepsOnce: { id: string; prepares: number }[] = [];
let port = 0;
let apiKey = "";
const sources: { root: string; id: string; agent: Spawned }[] = [];

const serverArgs = (): string[] => ["server", "--listen", "127.0.0.1", "--data-dir", join(base, "server"), "--heartbeat-seconds", "1", "--offline-after-seconds", "120", "--port", String(port)];
const client = serverApi(
  () => server,
  () => apiKey,
);
const { call: api, job: getJob } = client;
/** Polls a job until `done`; a job InError fails the wait unless `errorOk`. */
const waitJob = (id: string, what: string, done: (j: Job) => boolean, ms: number, errorOk = false) => client.waitJob(id, done, ms, { what, errorOk });
const serverEnv = (): NodeJS.ProcessEnv => ({ ...providerEnv, ...(apiKey ? { HOIST_API_KEY: apiKey } : {}) });

async function startServer(): Promise<StartedServer> {
  server = await startHoistServer(serverArgs().slice(1), serverEnv());
  if (!apiKey) apiKey = server.apiKey as string;
  // Agents know the server by its address: every restart listens where the first start did.
  port = Number(new URL(server.url).port);
  return server;
}

async function createJob(sourceId: string, imageName: string, rateLimit: number): Promise<string> {
  const r = await api<Job>("POST", "/v1/jobs", {
    SourceId: sourceId,
    ImageName: imageName,
    SystemDiskSize: 20,
    DataDisks: [{ Index: 1, Size: 20, SourcePath: `/${DATA}` }],
    RateLimit: rateLimit,
    VerifyImage: false,
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.JobId;
}

/** A small Linux root (enough to convert) with the fidelity tree plus random files in the data disk's folder. */
async function buildSource(root: string): Promise<void> {
  await smallLinuxRoot(root);
  const data = join(root, DATA);
  mkdirSync(data, { recursive: true });
  buildFidelityTree(data);
  // The fidelity tree's 64 MiB sparse file would cross a rate-limited link as 64 MiB of zeros: a smaller one keeps the holes.
  rmSync(join(data, "var/sparse.img"));
  const fd = openSync(join(data, "var/sparse.img"), "w");
  writeSync(fd, Buffer.from("start"), 0, 5, 0);
  writeSync(fd, Buffer.from("end"), 0, 3, 4 * 2 ** 20 - 3);
  closeSync(fd);
  mkdirSync(join(data, "lost+found"), { mode: 0o700 });
  for (let i = 0; i < 6; i++) {
    mkdirSync(join(data, `blobs/${i % 2}`), { recursive: true });
    writeFileSync(join(data, `blobs/${i % 2}/blob-${i}.bin`), randomBytes(2 ** 20 + i * 4099));
  }
}

async function importSource(root: string): Promise<{ root: string; id: string; agent: Spawned }> {
  const { agent } = await startAgent(api, server?.url as string, root, `${root}.agent`);
  const id = await importedSourceId(agent);
  return { root, id, agent };
}

/** Paths a conversion report says it changed, from its diffs' headers. */
function convertedPaths(imageName: string): Set<string> {
  const manifest = JSON.parse(readFileSync(join(images, imageName, "manifest.json"), "utf8")) as { conversion: { steps: { diff?: string }[] } | null };
  const paths = new Set<string>();
  for (const s of manifest.conversion?.steps ?? []) {
    for (const m of (s.diff ?? "").matchAll(/^(?:---|\+\+\+) [ab](\/\S+)/gm)) if (m[1]) paths.add(m[1].slice(1));
  }
  return paths;
}

/** Mounts each disk of an exported image read-only and compares it with the source; returns the differences. */
function imageDifferences(imageName: string, sourceRoot: string): string[] {
  const out = mkdtempSync(join(base, "export-"));
  try {
    sh(HOIST, ["image", "export", imageName, "--format", "raw", "--output", join(out, "img.raw"), "--image-store", images]);
    const mountDisk = (raw: string, pick: "largest" | "first", body: (mnt: string) => string[]): string[] => {
      const table = JSON.parse(sh("sfdisk", ["-J", raw])) as { partitiontable: { sectorsize?: number; partitions: { start: number; size: number }[] } };
      const parts = table.partitiontable.partitions;
      const part = pick === "first" ? parts[0] : [...parts].sort((a, b) => b.size - a.size)[0];
      if (!part) return [`${raw}: no partition`];
      const sector = table.partitiontable.sectorsize ?? 512;
      return withMountedFile(raw, mkdtempSync(join(out, "mnt-")), body, { offset: part.start * sector, size: part.size * sector, readOnly: true });
    };
    // The data disk: the folder exactly, lost+found's contents excluded (the default excludes).
    const data = mountDisk(join(out, "img-disk1.raw"), "first", (mnt) => compareTrees(join(sourceRoot, DATA), mnt, { excludedContents: ["lost+found"] }).map((d) => `disk1: ${d}`));
    // The system disk: exact but for the default excludes (/dev, /proc, /sys, lost+found), the data
    // disk's folder (arrives empty) and what the conversion report says it changed: the files its
    // diffs name (and the folders holding them), GRUB under /boot/grub and the units it enabled under
    // /etc/systemd/system.
    const changed = convertedPaths(imageName);
    const explained = (path: string): boolean =>
      changed.has(path) || [...changed].some((c) => c.startsWith(`${path}/`)) || path.startsWith("boot/grub") || path.startsWith("etc/systemd/system");
    const system = mountDisk(join(out, "img.raw"), "largest", (mnt) =>
      compareTrees(sourceRoot, mnt, { excludedContents: ["lost+found", "dev", "proc", "sys", DATA] })
        .filter((d) => {
          const path = /^"((?:[^"\\]|\\.)*)"/.exec(d)?.[1];
          return path === undefined || !explained(JSON.parse(`"${path}"`) as string);
        })
        .map((d) => `system: ${d}`),
    );
    return [...data, ...system];
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** The steps of a job's runs from the job_steps table: per step, attempts, completions and failures. */
async function stepsOf(jobIds: string[]): Promise<Map<string, { step: string; run: number; n: number; done: number; failed: number }[]>> {
  const db = await openPglite(join(base, "server", "pgdata"));
  try {
    const out = new Map<string, { step: string; run: number; n: number; done: number; failed: number }[]>();
    for (const id of jobIds) {
      out.set(
        id,
        await db.query<{ step: string; run: number; n: number; done: number; failed: number }>(
          `select step, run, count(*)::int as n, count(*) filter (where outcome = 'done')::int as done, count(*) filter (where outcome = 'failed')::int as failed
           from job_steps where job_id = $1 group by step, run order by run, step`,
          [id],
        ),
      );
    }
    return out;
  } finally {
    await db.close();
  }
}

/**
 * What a cloud user's mistake in the console does to a local intermediate instance: it is gone, and
 * its disks with it (its receiver killed, their mounts and loop devices taken down, its folder removed).
 */
function releaseByMistake(instanceId: string): void {
  const dir = join(home, "instances", instanceId);
  process.kill((JSON.parse(readFileSync(join(dir, "receiver.json"), "utf8")) as { pid: number }).pid, "SIGKILL");
  const mounts = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((m) => m.startsWith(`${dir}/`))
    .reverse();
  for (const m of mounts) sh("umount", ["-l", m]);
  for (const line of sh("losetup", ["-a"]).split("\n").filter((l) => l.includes(dir))) {
    const dev = line.split(":")[0];
    if (dev) sh("losetup", ["-d", dev]);
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Writes MiBs of zeros to `path` until the filesystem is full (at most `maxMiB`). */
function fillUp(path: string, maxMiB: number): void {
  const fd = openSync(path, "w");
  try {
    const zeros = Buffer.alloc(2 ** 20);
    for (let i = 0; i < maxMiB; i++) writeSync(fd, zeros);
    throw new Error(`${path}: the filesystem took ${maxMiB} MiB without filling up`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
  } finally {
    closeSync(fd);
  }
}

/** Bytes a folder's files take (du), leaving out lost+found. */
function usedBytes(dir: string): number {
  return Number(sh("du", ["-sb", "--exclude=lost+found", dir]).split("\t")[0]);
}

const instances = (): string[] => (existsSync(join(home, "instances")) ? readdirSync(join(home, "instances")) : []);

beforeAll(async () => {
  console.log(`faults-server seed ${seed} (HOIST_FAULT_SEED=${seed} replays it)`);
  for (let i = 0; i < 2; i++) await buildSource(join(base, `source-${i}`));
  await startServer();
  sources.push(...(await Promise.all([0, 1].map((i) => importSource(join(base, `source-${i}`))))));
}, 10 * 60_000);

afterAll(async () => {
  for (const s of sources) await stop(s.agent, "SIGKILL");
  await stop(server, "SIGKILL");
  releaseEverythingUnder(base, home);
});

describe("replication jobs under hostile conditions", () => {
  it(`finish with exact images though hoist server is SIGKILLed ${KILLS} times`, async () => {
    const rnd = seededRandom(seed);
    const source = sources[0] as (typeof sources)[number];
    const jobs: { id: string; image: string }[] = [];
    const landed: string[] = [];
    const startJob = async () => {
      const image = `killed-${jobs.length + 1}`;
      jobs.push({ id: await createJob(source.id, image, 24), image });
    };
    await startJob();
    while (landed.length < KILLS) {
      await sleep(300 + rnd() * 3700);
      // When a job finished, the next starts while kills remain, so the kills keep landing on work.
      const last = (await getJob(jobs.at(-1)?.id as string)).Status;
      if (last === "Finished" && landed.length < KILLS - 3) await startJob();
      const now = await getJob(jobs.at(-1)?.id as string);
      landed.push(now.BusinessStatus ?? now.Status);
      await stop(server, "SIGKILL");
      // Now and then the next server dies too while it starts: opening its database, migrating, taking up its jobs.
      if (rnd() < 0.25 && landed.length < KILLS) {
        const starting = spawnHoist(serverArgs(), serverEnv());
        const ms = 500 + rnd() * 2500;
        const ready = starting.waitFor(/"event":"ready"/, ms).then(
          () => true,
          () => false,
        );
        await sleep(ms);
        await stop(starting, "SIGKILL");
        landed.push((await ready) ? "just started" : "starting");
      }
      await startServer();
    }
    for (const j of jobs) await waitJob(j.id, "Finished", (x) => x.Status === "Finished", 10 * 60_000);
    console.log(`${jobs.length} jobs; server kills landed in: ${landed.join(", ")}`);
    expect(landed).toHaveLength(KILLS);
    // Success releases every intermediate instance.
    await until("intermediate instances released", async () => (instances().length === 0 ? true : undefined), 60_000);

    for (const j of jobs) stepsOnce.push({ id: j.id, prepares: 1 });
    for (const j of jobs) expect(imageDifferences(j.image, source.root), `image ${j.image}`).toEqual([]);
  }, 15 * 60_000);

  it.concurrent("an intermediate instance released by mistake mid-copy: the job says so, and a retry starts a new one and ends exact", async () => {
    const source = sources[0] as (typeof sources)[number];
    const id = await createJob(source.id, "released", 24);
    const copying = await waitJob(id, "copying", (j) => j.BusinessStatus === "Syncing" && (j.Transfer?.BytesDone ?? 0) > 8 * 2 ** 20, 5 * 60_000);
    const first = copying.TransitionInstanceId as string;
    expect(first).toMatch(/^i-local-[0-9a-f]{12}$/);
    releaseByMistake(first);

    // The agent's copy loses its receiver and gives up after its retries; the job tells why and what to do.
    const failed = await waitJob(id, "InError", (j) => j.Status === "InError", 3 * 60_000, true);
    expect(failed).toMatchObject({ ErrorCode: "IntermediateInstance.Released", BusinessStatus: "Preparing", TransitionInstanceId: null });
    expect(failed.ErrorMessage).toContain(first);
    expect(failed.ErrorFix).toMatch(/^Retry the job/);

    const retried = await hoist(["jobs", "retry", id], { HOIST_SERVER: server?.url, HOIST_API_KEY: apiKey });
    expect(retried.code, retried.stderr).toBe(0);
    const used = new Set<string>();
    await waitJob(
      id,
      "Finished",
      (j) => {
        if (j.TransitionInstanceId) used.add(j.TransitionInstanceId);
        return j.Status === "Finished";
      },
      10 * 60_000,
    );
    // A new intermediate instance did the work, and was released in the end.
    expect(used.size).toBe(1);
    expect(used.has(first)).toBe(false);
    expect(instances().filter((i) => i === first || used.has(i))).toEqual([]);
    // The run prepared an intermediate instance twice, the released one and the new one.
    stepsOnce.push({ id, prepares: 2 });
    expect(imageDifferences("released", source.root)).toEqual([]);
  }, 15 * 60_000);

  it.concurrent("a target disk filling up mid-copy: the job shows Receiver.DiskFull, and a retry once space is freed sends only what is missing", async () => {
    const source = sources[1] as (typeof sources)[number];
    const dataBytes = usedBytes(join(source.root, DATA));
    const id = await createJob(source.id, "disk-full", 16);
    const copying = await waitJob(id, "copying", (j) => j.BusinessStatus === "Syncing" && j.TransitionInstanceId !== null, 5 * 60_000);
    const jobs = join(home, "instances", copying.TransitionInstanceId as string, "jobs");
    // The data disk as the intermediate instance has it mounted, once a few MiB have reached it.
    const jobDir = await until(
      "the data disk's copy to be under way",
      async () => {
        const rid = existsSync(jobs) ? readdirSync(jobs)[0] : undefined;
        return rid && existsSync(join(jobs, rid, "mnt/disk1/lost+found")) && usedBytes(join(jobs, rid, "mnt/disk1")) > 4 * 2 ** 20 ? join(jobs, rid) : undefined;
      },
      5 * 60_000,
    );
    const target = join(jobDir, "mnt/disk1");
    // Something else on the intermediate instance takes all of the disk's space, root's reserve included:
    // most of it at once, the last MiBs written until the disk says it is full.
    const ballast = join(target, "lost+found/ballast");
    const fs = statfsSync(target);
    sh("fallocate", ["-l", String(fs.bfree * fs.bsize - 64 * 2 ** 20), ballast]);
    fillUp(join(target, "lost+found/ballast-rest"), 128);

    const failed = await waitJob(id, "InError", (j) => j.Status === "InError", 3 * 60_000, true);
    expect(failed).toMatchObject({ ErrorCode: "Receiver.DiskFull", BusinessStatus: "Syncing" });
    expect(failed.ErrorMessage).toMatch(/target disk .*is full/);
    expect(failed.ErrorFix).toMatch(/larger disk/);
    const copiedBefore = usedBytes(target);
    expect(copiedBefore).toBeGreaterThan(4 * 2 ** 20);
    expect(copiedBefore).toBeLessThan(dataBytes);

    // Space freed, the retry resumes: the receiver's rsync log says how much came in from then on.
    rmSync(ballast);
    rmSync(join(target, "lost+found/ballast-rest"));
    const log = join(jobDir, "rsyncd.log");
    const logStart = existsSync(log) ? readFileSync(log).length : 0;
    const retried = await api<Job>("POST", `/v1/jobs/${id}/retry`);
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    let after: string | undefined;
    await waitJob(
      id,
      "Finished",
      (j) => {
        // The copy is over once the job is Processing; the log goes with the intermediate instance when it is released.
        if (after === undefined && j.BusinessStatus !== "Syncing" && existsSync(log)) after = readFileSync(log).subarray(logStart).toString("utf8");
        return j.Status === "Finished";
      },
      10 * 60_000,
    );
    expect(after, "the receiver's rsync log after the retry").toBeDefined();
    const received = [...(after ?? "").matchAll(/received ([\d,]+) bytes/g)].reduce((n, m) => n + Number((m[1] ?? "0").replace(/,/g, "")), 0);
    console.log(`disk full after ${copiedBefore} of ${dataBytes} bytes of the data disk; the retry received ${received} bytes`);
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(dataBytes - copiedBefore / 2);
    expect(imageDifferences("disk-full", source.root)).toEqual([]);
    stepsOnce.push({ id, prepares: 1 });
  }, 15 * 60_000);

  it("each step of every run completed once, however often a kill cut one short (job_steps)", async () => {
    // The jobs of the tests above: those of the server kills, the released instance's and the full disk's.
    expect(stepsOnce.length).toBeGreaterThanOrEqual(3);
    // The embedded database is one process's: the server stops before the test reads it.
    await stop(server, "SIGTERM");
    const steps = await stepsOf(stepsOnce.map((j) => j.id));
    let cutShort = 0;
    for (const { id, prepares } of stepsOnce) {
      const rows = steps.get(id) ?? [];
      expect(rows.map((r) => r.step).sort(), `steps of ${id}`).toEqual(["clean", "convert", "image", "prepare"]);
      for (const r of rows) expect(r, `step ${r.step} of ${id}`).toMatchObject({ run: 1, done: r.step === "prepare" ? prepares : 1, failed: 0 });
      cutShort += rows.reduce((n, r) => n + r.n - r.done, 0);
    }
    // An attempt without an outcome is one a server kill cut short.
    expect(cutShort).toBeLessThanOrEqual(KILLS);
    console.log(`step attempts cut short by server kills: ${cutShort}`);
  });
});

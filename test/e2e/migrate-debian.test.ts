// The main job, as a user runs it: `hoist migrate --source-root` on a real
// Debian 12 (debootstrapped, with a kernel) that has two data disks under
// /mnt, on the embedded defaults. It must end with "Goto Hoist Finished!" only
// after the image booted to multi-user with both data disks mounted; the data
// disks' contents must arrive exactly; the intermediate instance must be gone.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { releaseEverythingUnder } from "../helpers/cleanup";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writableDebianSource } from "../helpers/debian-fixture";
import { localMigration, writeUserConfig } from "../helpers/local-migration";
import { debianUserConfig } from "../helpers/user-config";
import { compareTrees } from "../helpers/tree";

const { base, env, hoist } = localMigration("hoist-migrate-debian-");
const source = join(base, "source");
const workdir = join(base, "work");
const IMAGE = "debian12-two-disks";
const attached: string[] = [];

beforeAll(async () => {
  // A writable view of the cached Debian root, so each run adds its own data disks without copying 800 MB.
  await writableDebianSource(base);
  for (const disk of ["disk1", "disk2"]) {
    const dir = join(source, "mnt", disk);
    mkdirSync(join(dir, "nested", "deeper"), { recursive: true });
    writeFileSync(join(dir, `hello-${disk}.txt`), `data of ${disk}\n`);
    writeFileSync(join(dir, "nested", "deeper", "random.bin"), randomBytes(3 * 2 ** 20));
    execFileSync("chown", ["-R", "1001:1002", join(dir, "nested")]);
    execFileSync("setfattr", ["-n", "user.origin", "-v", disk, join(dir, `hello-${disk}.txt`)]);
  }
  writeUserConfig(workdir, debianUserConfig(IMAGE));
}, 20 * 60_000);

afterAll(() => {
  for (const dev of attached) spawnSync("losetup", ["-d", dev]);
  releaseEverythingUnder(base, env.HOIST_HOME);
});

describe("hoist migrate of a Debian 12 server with two data disks", () => {
  const progressFile = join(base, "progress");

  it("finishes only after the image booted with both data disks mounted", () => {
    const r = hoist(["migrate", "--noenterkey", "--workdir", workdir, "--source-root", source, "--datadisks", "1|20|/mnt/disk1;2|20|/mnt/disk2", "--progressfile", progressFile]);
    expect(r.stderr).toBe("");
    expect(r.status, r.stdout.slice(-2000)).toBe(0);
    expect(r.stdout).toContain("booted to multi-user");
    expect(r.stdout.trim().split("\n")).toContain("Goto Hoist Finished!");
    expect(readFileSync(progressFile, "utf8")).toBe("Finished\n100\n");

    const manifest = JSON.parse(readFileSync(join(env.HOIST_IMAGE_STORE, IMAGE, "manifest.json"), "utf8")) as {
      disks: { key: string }[];
      mounts: { mountPoint: string }[];
      verification: { status: string; mountedAll: boolean; reachedMultiUser: boolean; bootSeconds: number };
    };
    expect(manifest.disks.map((d) => d.key).sort()).toEqual(["disk1", "disk2", "system"]);
    expect(manifest.mounts.map((m) => m.mountPoint).sort()).toEqual(["/", "/mnt/disk1", "/mnt/disk2"]);
    const consoleLog = readFileSync(join(env.HOIST_IMAGE_STORE, IMAGE, "verify-console.log"), "utf8");
    expect(manifest.verification, `console log ends:\n${consoleLog.slice(-3000)}`).toMatchObject({ status: "booted", mountedAll: true, reachedMultiUser: true });
    expect(consoleLog).toMatch(/HOIST-VERIFY mounts=\S*\/mnt\/disk1/);
    expect(consoleLog).toMatch(/HOIST-VERIFY mounts=\S*\/mnt\/disk2/);

    // Released on success, as the seeds describe: no receiver, no disks, no loop devices left.
    const instances = join(env.HOIST_HOME, "instances");
    expect(existsSync(instances) ? readdirSync(instances) : []).toEqual([]);
    expect(execFileSync("losetup", ["-a"], { encoding: "utf8" })).not.toContain(env.HOIST_HOME);
    const receivers = readdirSync("/proc").filter((pid) => {
      try {
        return /^\d+$/.test(pid) && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(env.HOIST_HOME);
      } catch {
        return false;
      }
    });
    expect(receivers).toEqual([]);
  });

  it("says the migration already finished when run again", () => {
    const r = hoist(["migrate", "--noenterkey", "--workdir", workdir, "--source-root", source, "--datadisks", "1|20|/mnt/disk1;2|20|/mnt/disk2"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("already finished");
  });

  it("passes the static image check and is listed", () => {
    const check = hoist(["image", "check", IMAGE, "--image-store", env.HOIST_IMAGE_STORE]);
    expect(check.status).toBe(0);
    const list = JSON.parse(hoist(["image", "list", "--json", "--image-store", env.HOIST_IMAGE_STORE]).stdout) as { name: string }[];
    expect(list.map((i) => i.name)).toContain(IMAGE);
  });

  it("carries each data disk's files exactly", () => {
    const out = join(base, "export", "img.raw");
    mkdirSync(join(base, "export"), { recursive: true });
    const r = hoist(["image", "export", IMAGE, "--format", "raw", "--output", out, "--image-store", env.HOIST_IMAGE_STORE]);
    expect(r.status).toBe(0);
    for (const disk of ["disk1", "disk2"]) {
      const raw = join(base, "export", `img-${disk}.raw`);
      const table = JSON.parse(execFileSync("sfdisk", ["-J", raw], { encoding: "utf8" })) as { partitiontable: { sectorsize?: number; partitions: { start: number; size: number }[] } };
      const part = table.partitiontable.partitions[0]!;
      const sector = table.partitiontable.sectorsize ?? 512;
      const dev = execFileSync("losetup", ["--find", "--show", "--read-only", "--offset", String(part.start * sector), "--sizelimit", String(part.size * sector), raw], { encoding: "utf8" }).trim();
      attached.push(dev);
      const mnt = join(base, "export", `mnt-${disk}`);
      mkdirSync(mnt, { recursive: true });
      execFileSync("mount", ["-o", "ro", dev, mnt]);
      try {
        const diffs = compareTrees(join(source, "mnt", disk), mnt).filter((d) => !d.startsWith('"lost+found"'));
        expect(diffs).toEqual([]);
      } finally {
        execFileSync("umount", [mnt]);
      }
    }
  });
});

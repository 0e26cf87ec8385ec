// `hoist migrate` with partitions copied by block: a real Debian 12 source
// (the cached debootstrap tree) whose / is an ext4 partition of its own and
// whose /mnt/disk1 is an xfs partition, both on loop devices, mounted and in
// use. The run must end with an image whose disks carry the source's
// filesystems (same UUIDs, grown to the larger target disks, fsck clean) with
// every file equal, and whose static check finds every fstab UUID. The image
// is not booted here: server-jobs-replicas.test.ts boots the same layout (/
// and an xfs data disk by block) through a replication job.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseEverythingUnder } from "../helpers/cleanup";
import { debianExt4Image } from "../helpers/debian-fixture";
import { localMigration, writeUserConfig } from "../helpers/local-migration";
import { debianUserConfig } from "../helpers/user-config";
import { buildFidelityTree, compareTrees } from "../helpers/tree";

const MiB = 2 ** 20;
const { base, env, hoist } = localMigration("hoist-block-migrate-");
const source = join(base, "source");
const workdir = join(base, "work");
const IMAGE = "debian12-block-disk";
const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
let dataDevice = "";
let dataUuid = "";
let rootDevice = "";
let rootUuid = "";

function writeConfig(extra: Record<string, unknown> = {}): void {
  writeUserConfig(workdir, debianUserConfig(IMAGE, extra));
}

beforeAll(async () => {
  // The source's / is a partition of its own (a loop device), so it can be copied by block.
  const rootImage = await debianExt4Image(join(base, "root.img"), 3);
  rootDevice = sh("losetup", ["--find", "--show", rootImage]).trim();
  rootUuid = sh("blkid", ["-p", "-o", "value", "-s", "UUID", rootDevice]).trim();
  mkdirSync(source, { recursive: true });
  sh("mount", [rootDevice, source]);
  const image = join(base, "disk1.img");
  sh("truncate", ["-s", String(700 * MiB), image]);
  sh("mkfs.xfs", ["-f", "-q", image]);
  dataDevice = sh("losetup", ["--find", "--show", image]).trim();
  dataUuid = sh("blkid", ["-p", "-o", "value", "-s", "UUID", dataDevice]).trim();
  const mnt = join(source, "mnt", "disk1");
  mkdirSync(mnt, { recursive: true });
  sh("mount", [dataDevice, mnt]);
  mkdirSync(join(mnt, "tree"));
  buildFidelityTree(join(mnt, "tree"));
  for (let i = 0; i < 6; i++) writeFileSync(join(mnt, `blob-${i}.bin`), randomBytes(16 * MiB));
  mkdirSync(workdir, { recursive: true });
  writeConfig();
}, 20 * 60_000);

afterAll(() => {
  releaseEverythingUnder(base, env.HOIST_HOME);
});

describe("hoist migrate with / and a data disk copied by block", () => {
  it("refuses block partitions that are not / or a data disk, and block partitions with excludes", () => {
    const bad = hoist(["migrate", "--noenterkey", "--workdir", workdir, "--source-root", source, "--datadisks", "1|20|/mnt/disk1", "--block-partitions", "/srv", "--copy-only"]);
    expect(bad.status).toBe(1);
    expect(`${bad.stdout}${bad.stderr}`).toContain("Config.InvalidBlockReplication");
    mkdirSync(join(workdir, "Excludes"), { recursive: true });
    writeFileSync(join(workdir, "Excludes", "rsync_excludes_linux_disk1.txt"), "/tree/odd/*\n");
    const excluded = hoist(["migrate", "--noenterkey", "--workdir", workdir, "--source-root", source, "--datadisks", "1|20|/mnt/disk1", "--block-partitions", "/mnt/disk1", "--copy-only"]);
    expect(excluded.status).toBe(1);
    expect(`${excluded.stdout}${excluded.stderr}`).toContain("Config.BlockWithExcludes");
    writeFileSync(join(workdir, "Excludes", "rsync_excludes_linux_disk1.txt"), "");
    expect(hoist(["migrate", "--help"]).stdout).toContain("--block-partitions");
  });

  it("makes an image of its block-copied / and data disk: the source's filesystems, grown, clean and equal file by file", () => {
    const r = hoist(["migrate", "--noenterkey", "--workdir", workdir, "--source-root", source, "--datadisks", "1|20|/mnt/disk1", "--block-partitions", "/,/mnt/disk1", "--compression", "1", "--no-verify"]);
    expect(r.status, `${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`).toBe(0);
    expect(r.stdout).toContain("by block");
    expect(r.stdout.trim().split("\n")).toContain("Goto Hoist Finished!");
    const manifest = JSON.parse(readFileSync(join(env.HOIST_IMAGE_STORE, IMAGE, "manifest.json"), "utf8")) as {
      disks: { key: string; file: string }[];
      mounts: { mountPoint: string }[];
      verification: { status: string; mountedAll: boolean; reachedMultiUser: boolean };
    };
    expect(manifest.disks.map((d) => d.key).sort()).toEqual(["disk1", "system"]);
    expect(manifest.mounts.map((m) => m.mountPoint).sort()).toEqual(["/", "/mnt/disk1"]);
    expect(manifest.verification.status).toBe("unverified");

    // The image's static check finds every fstab UUID (the block disk kept the source's) on its disks.
    const check = hoist(["image", "check", IMAGE]);
    expect(check.status, check.stdout + check.stderr).toBe(0);

    // The image's root is the source's ext4, grown to the system disk, clean; what conversion does not touch is equal.
    const system = manifest.disks.find((d) => d.key === "system")!;
    const systemRaw = join(base, "system-from-image.raw");
    sh("qemu-img", ["convert", "-O", "raw", system.file.startsWith("/") ? system.file : join(env.HOIST_IMAGE_STORE, IMAGE, system.file), systemRaw]);
    const rootPart = (JSON.parse(sh("sfdisk", ["-J", systemRaw])) as { partitiontable: { partitions: { start: number; size: number }[] } }).partitiontable.partitions[0]!;
    const rootLoop = sh("losetup", ["--find", "--show", "--read-only", "--offset", String(rootPart.start * 512), "--sizelimit", String(rootPart.size * 512), systemRaw]).trim();
    try {
      expect(sh("blkid", ["-p", "-o", "value", "-s", "UUID", rootLoop]).trim()).toBe(rootUuid);
      const fsck = spawnSync("e2fsck", ["-f", "-n", rootLoop], { encoding: "utf8" });
      expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
      const mnt = join(base, "image-root");
      mkdirSync(mnt);
      sh("mount", ["-o", "ro,noload", rootLoop, mnt]);
      try {
        // (Conversion adds only its boot-check script under /usr/local.)
        for (const d of ["bin", "sbin", "lib", "share"]) expect(compareTrees(join(source, "usr", d), join(mnt, "usr", d))).toEqual([]);
        expect(readFileSync(join(mnt, "etc", "fstab"), "utf8")).toMatch(new RegExp(`^UUID=${rootUuid}\\s+/\\s+ext4`, "m"));
        const size = Number(sh("df", ["-B1", "--output=size", mnt]).split("\n")[1]?.trim());
        expect(size).toBeGreaterThan(15 * 1024 * MiB);
      } finally {
        sh("umount", [mnt]);
      }
    } finally {
      spawnSync("losetup", ["-d", rootLoop]);
    }

    // Open the image's data disk the way a user would check it.
    const disk = manifest.disks.find((d) => d.key === "disk1")!;
    const qcow = disk.file.startsWith("/") ? disk.file : join(env.HOIST_IMAGE_STORE, IMAGE, disk.file);
    const raw = join(base, "disk1-from-image.raw");
    sh("qemu-img", ["convert", "-O", "raw", qcow, raw]);
    const part = (JSON.parse(sh("sfdisk", ["-J", raw])) as { partitiontable: { partitions: { start: number; size: number }[] } }).partitiontable.partitions[0]!;
    const loop = sh("losetup", ["--find", "--show", "--read-only", "--offset", String(part.start * 512), "--sizelimit", String(part.size * 512), raw]).trim();
    try {
      expect(sh("blkid", ["-p", "-o", "value", "-s", "UUID", loop]).trim()).toBe(dataUuid);
      expect(spawnSync("xfs_repair", ["-n", loop]).status).toBe(0);
      const mnt = join(base, "image-disk1");
      mkdirSync(mnt);
      sh("mount", ["-o", "ro,nouuid", loop, mnt]);
      try {
        expect(compareTrees(join(source, "mnt", "disk1"), mnt)).toEqual([]);
        const size = Number(sh("df", ["-B1", "--output=size", mnt]).split("\n")[1]?.trim());
        expect(size).toBeGreaterThan(900 * MiB);
      } finally {
        sh("umount", [mnt]);
      }
    } finally {
      spawnSync("losetup", ["-d", loop]);
    }
  });
});

// The disk backend on its own: sparse raw disks with real partition tables
// and filesystems carrying the plan's UUIDs, prepare that can be repeated
// (a restarted receiver), release that leaves nothing attached, and a clear
// Receiver.DiskFull when the intermediate instance has no room.
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDiskBackend, makePlan, readJobState } from "@hoist/images";
import type { TargetPlan } from "@hoist/protocol";
import { run, silentLogger } from "@hoist/runtime";
import { afterAll, describe, expect, it } from "vitest";
import { debianInventory } from "../helpers/inventory";

const GiB = 1024 ** 3;
const work = mkdtempSync(join(tmpdir(), "hoist-image-disks-"));

const inventory = debianInventory({
  sourceRoot: "/src",
  collectedAt: new Date().toISOString(),
  hostname: null,
  os: { id: "debian", versionId: "12", prettyName: "Debian", idLike: [] },
  canBoot: { bios: true, uefi: true },
  bootloader: { kind: "grub2", version: null },
  systemDiskBytes: 40 * GiB,
});

async function blkid(device: string): Promise<Record<string, string>> {
  const out = (await run("blkid", ["-p", "-o", "export", device])).stdout;
  return Object.fromEntries(out.split("\n").filter(Boolean).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}

describe("disk backend", () => {
  const backend = createDiskBackend();
  const jobs: { jobDir: string; plan: TargetPlan }[] = [];
  const tmpfsDirs: string[] = [];

  afterAll(async () => {
    for (const job of jobs) await backend.release(job, silentLogger).catch(() => undefined);
    for (const d of tmpfsDirs) await run("umount", [d], { okExitCodes: [0, 32] });
    rmSync(work, { recursive: true, force: true });
  });

  it("prepares xfs disks with a separate /boot, repeats prepare without reformatting, and releases everything", async () => {
    const plan = makePlan(inventory, { systemDiskGiB: 20, separateBoot: true, fs: "xfs", dataDisks: [{ index: 3, sizeGiB: 2, srcPath: "/srv/data" }] });
    const job = { jobDir: join(work, "xfs-job"), plan };
    jobs.push(job);
    const disks = await backend.prepare(job, silentLogger);
    expect(disks.map((d) => d.key)).toEqual(["system", "disk3"]);
    const system = disks[0];
    if (!system) throw new Error("no system disk");
    // Sparse: a 20 GiB disk takes a small fraction of that on the intermediate instance.
    expect(statSync(system.rawPath).size).toBe(20 * GiB);
    expect(statSync(system.rawPath).blocks * 512).toBeLessThan(GiB);

    const table = JSON.parse((await run("sfdisk", ["-J", system.rawPath])).stdout) as { partitiontable: { label: string; partitions: { start: number; size: number; bootable?: boolean }[] } };
    expect(table.partitiontable.label).toBe("dos");
    expect(table.partitiontable.partitions.map((p) => p.start)).toEqual([2048, 2048 + 1024 * 2048]);
    expect(table.partitiontable.partitions[0]?.bootable).toBe(true);

    const state = readJobState(job.jobDir);
    for (const disk of plan.disks) {
      for (const part of disk.partitions) {
        const loop = state.disks[disk.key]?.partitions[part.key]?.loop ?? "";
        const id = await blkid(loop);
        expect(id.TYPE).toBe("xfs");
        expect(id.UUID).toBe(part.uuid);
      }
    }
    const mounts = (await run("findmnt", ["-rn", "-o", "TARGET"])).stdout.split("\n");
    expect(mounts).toEqual(expect.arrayContaining([system.mountPath, join(system.mountPath, "boot"), join(work, "xfs-job/mnt/disk3")]));

    writeFileSync(join(system.mountPath, "boot", "kept.txt"), "kept");
    const again = await backend.prepare(job, silentLogger);
    expect(again).toEqual(disks);
    expect(readJobState(job.jobDir)).toEqual(state);
    expect(existsSync(join(system.mountPath, "boot", "kept.txt"))).toBe(true);

    await backend.release(job, silentLogger);
    expect(existsSync(system.rawPath)).toBe(false);
    expect((await run("losetup", ["-j", system.rawPath])).stdout.trim()).toBe("");
    expect((await run("findmnt", ["-rn", "-o", "TARGET"])).stdout).not.toContain(job.jobDir);
  });

  it("refuses with Receiver.DiskFull when the job folder cannot hold the data", async () => {
    const small = join(work, "small");
    mkdirSync(small);
    await run("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", small]);
    tmpfsDirs.push(small);
    const plan = makePlan(inventory, { systemDiskGiB: 20 });
    const job = { jobDir: join(small, "job"), plan };
    mkdirSync(job.jobDir);
    await expect(backend.prepare(job, silentLogger)).rejects.toMatchObject({ code: "Receiver.DiskFull", retryable: true, message: expect.stringContaining("GiB") });
    expect(existsSync(join(job.jobDir, "disks/system.raw"))).toBe(false);
  });
});

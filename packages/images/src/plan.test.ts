import type { SourceInventory } from "@hoist/protocol";
import { describe, expect, it } from "vitest";
import { codeOf } from "../../../test/helpers/errors";
import { debianInventory } from "../../../test/helpers/inventory";
import { makePlan } from "./plan";

const GiB = 1024 ** 3;

function inventory(usedGiB: number, diskGiB = 60): SourceInventory {
  return debianInventory({
    sourceRoot: "/src",
    collectedAt: "2024-01-01T00:00:00.000Z",
    hostname: "web1",
    canBoot: { bios: true, uefi: true },
    systemDiskBytes: diskGiB * GiB,
    usedBytes: Math.round(usedGiB * GiB),
    paths: [{ path: "/data", usedBytes: 5 * GiB }],
  });
}

describe("makePlan", () => {
  it("lays out BIOS as MBR with one root filesystem and new UUIDs", () => {
    const plan = makePlan(inventory(1), { systemDiskGiB: 20 });
    const system = plan.disks[0];
    expect(system?.table).toBe("mbr");
    expect(system?.sizeGiB).toBe(20);
    expect(system?.partitions.map((p) => [p.role, p.mountPoint, p.fs, p.sizeMiB])).toEqual([["root", "/", "ext4", null]]);
    expect(system?.partitions[0]?.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(makePlan(inventory(1), { systemDiskGiB: 20 }).disks[0]?.partitions[0]?.uuid).not.toBe(system?.partitions[0]?.uuid);
  });

  it("lays out UEFI as GPT with a 256 MiB vfat ESP, a separate /boot and xfs when asked", () => {
    const plan = makePlan(inventory(1), { bootMode: "uefi", separateBoot: true, fs: "xfs", systemDiskGiB: 20 });
    expect(plan.disks[0]?.table).toBe("gpt");
    expect(plan.disks[0]?.partitions.map((p) => [p.role, p.mountPoint, p.fs, p.sizeMiB])).toEqual([
      ["efi", "/boot/efi", "vfat", 256],
      ["boot", "/boot", "xfs", 1024],
      ["root", "/", "xfs", null],
    ]);
    expect(plan.disks[0]?.partitions[0]?.uuid).toMatch(/^[0-9A-F]{4}-[0-9A-F]{4}$/);
  });

  it("defaults the system disk to the source size within 20–2048 GiB", () => {
    expect(makePlan(inventory(1, 8)).disks[0]?.sizeGiB).toBe(20);
    expect(makePlan(inventory(1, 60)).disks[0]?.sizeGiB).toBe(60);
    expect(makePlan(inventory(1, 4000)).disks[0]?.sizeGiB).toBe(2048);
  });

  it("shrinks below the source size as long as the used space fits with headroom", () => {
    expect(makePlan(inventory(17, 400), { systemDiskGiB: 20 }).disks[0]?.sizeGiB).toBe(20);
    expect(codeOf(() => makePlan(inventory(18, 400), { systemDiskGiB: 20 }))).toBe("Plan.SystemDiskTooSmall");
  });

  it("names the numbers when the system disk is too small", () => {
    try {
      makePlan(inventory(100, 400), { systemDiskGiB: 50 });
      expect.unreachable();
    } catch (e) {
      expect((e as { code: string }).code).toBe("Plan.SystemDiskTooSmall");
      expect((e as Error).message).toContain("50 GiB");
      expect((e as Error).message).toContain("100.00 GiB");
      expect((e as { fix: string }).fix).toContain("112 GiB");
    }
  });

  it("refuses system disk sizes outside 20–2048 GiB", () => {
    expect(codeOf(() => makePlan(inventory(1), { systemDiskGiB: 19 }))).toBe("Plan.InvalidSystemDiskSize");
    expect(codeOf(() => makePlan(inventory(1), { systemDiskGiB: 2049 }))).toBe("Plan.InvalidSystemDiskSize");
  });

  it("adds data disks by index with nofail-ready data partitions", () => {
    const plan = makePlan(inventory(1), { systemDiskGiB: 20, dataDisks: [{ index: 2, sizeGiB: 10, srcPath: "/data" }, { index: 1, sizeGiB: 1, srcPath: "/srv" }] });
    expect(plan.disks.map((d) => [d.key, d.sourcePath, d.usedBytes])).toEqual([
      ["system", "/", GiB],
      ["disk1", "/srv", 0],
      ["disk2", "/data", 5 * GiB],
    ]);
    expect(plan.disks[2]?.partitions[0]?.mountPoint).toBe("/data");
  });

  it("refuses a data disk smaller than its used space", () => {
    expect(codeOf(() => makePlan(inventory(1), { systemDiskGiB: 20, dataDisks: [{ index: 1, sizeGiB: 5, srcPath: "/data" }] }))).toBe("Plan.DataDiskTooSmall");
  });

  it("refuses more than 16 data disks, bad indexes, duplicates and sizes", () => {
    const many = Array.from({ length: 17 }, (_, i) => ({ index: (i % 16) + 1, sizeGiB: 1, srcPath: `/d${i}` }));
    expect(codeOf(() => makePlan(inventory(1), { systemDiskGiB: 20, dataDisks: many }))).toBe("Plan.TooManyDataDisks");
    expect(codeOf(() => makePlan(inventory(1), { systemDiskGiB: 20, dataDisks: [{ index: 17, sizeGiB: 1, srcPath: "/d" }] }))).toBe("Plan.InvalidDataDiskIndex");
    expect(codeOf(() => makePlan(inventory(1), { systemDiskGiB: 20, dataDisks: [{ index: 0, sizeGiB: 1, srcPath: "/d" }] }))).toBe("Plan.InvalidDataDiskIndex");
    expect(
      codeOf(() =>
        makePlan(inventory(1), {
          systemDiskGiB: 20,
          dataDisks: [
            { index: 1, sizeGiB: 1, srcPath: "/a" },
            { index: 1, sizeGiB: 1, srcPath: "/b" },
          ],
        }),
      ),
    ).toBe("Plan.DuplicateDataDisk");
    expect(codeOf(() => makePlan(inventory(1), { systemDiskGiB: 20, dataDisks: [{ index: 1, sizeGiB: 32769, srcPath: "/d" }] }))).toBe("Plan.InvalidDataDiskSize");
    expect(codeOf(() => makePlan(inventory(1), { systemDiskGiB: 20, dataDisks: [{ index: 1, sizeGiB: 1, srcPath: "/" }] }))).toBe("Plan.InvalidDataDiskPath");
  });

  it("refuses LVM without a separate /boot, and allows it with one", () => {
    expect(codeOf(() => makePlan(inventory(1), { systemDiskGiB: 20, lvm: true }))).toBe("Plan.LvmNeedsBootPartition");
    expect(makePlan({ ...inventory(1), lvm: true }, { systemDiskGiB: 20, lvm: true, separateBoot: true }).lvm).toBe(true);
  });
});

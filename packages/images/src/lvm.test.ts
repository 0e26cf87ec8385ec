import type { TargetDisk } from "@hoist/protocol";
import { describe, expect, it } from "vitest";
import { debianInventory } from "../../../test/helpers/inventory";
import { sfdiskScript } from "./disk-backend";
import { diskNumber, lvDevicePath, lvmConfig, lvmLayout, lvOffsetInPv, parseLvExtents } from "./lvm";
import { lvmFallbackReason, makePlan } from "./plan";

const GiB = 1024 ** 3;

const inventory = debianInventory({
  sourceRoot: "/src",
  collectedAt: "2024-01-01T00:00:00.000Z",
  hostname: "web1",
  canBoot: { bios: true, uefi: true },
  kernels: [{ version: "6.1.0-18-amd64", image: "/boot/vmlinuz-6.1.0-18-amd64", initramfs: null, virtio: null }],
  systemDiskBytes: 40 * GiB,
  usedBytes: GiB,
  paths: [{ path: "/mnt/disk1", usedBytes: GiB }],
  lvm: true,
});

// What lvm2 2.03 prints for a VG with 4 MiB extents and two LVs, the second after the first.
const LVS = JSON.stringify({
  report: [
    {
      seg: [
        { lv_name: "lv1", segtype: "linear", seg_pe_ranges: "/dev/loop5:0-127", vg_extent_size: "4194304B", seg_size: "536870912B" },
        { lv_name: "lv2", segtype: "linear", seg_pe_ranges: "/dev/loop5:128-485", vg_extent_size: "4194304B", seg_size: "1501560832B" },
      ],
    },
  ],
});
const PVS = JSON.stringify({ report: [{ pv: [{ pv_name: "/dev/loop5", pe_start: "1048576B" }] }] });

describe("LVM re-layout", () => {
  it("places an LV at pe_start plus its first extent times the extent size", () => {
    expect(lvOffsetInPv(1048576, 0, 4194304)).toBe(1048576);
    expect(lvOffsetInPv(1048576, 128, 4194304)).toBe(1048576 + 128 * 4194304);
    expect(parseLvExtents(LVS, PVS)).toEqual({
      lv1: { offset: 1048576, size: 128 * 4194304 },
      lv2: { offset: 1048576 + 128 * 4194304, size: 358 * 4194304 },
    });
  });

  it("refuses an LV that is not one linear run of extents", () => {
    const split = JSON.stringify({
      report: [
        {
          seg: [
            { lv_name: "lv1", segtype: "linear", seg_pe_ranges: "/dev/loop5:0-9", vg_extent_size: "4194304B", seg_size: "41943040B" },
            { lv_name: "lv1", segtype: "linear", seg_pe_ranges: "/dev/loop5:20-29", vg_extent_size: "4194304B", seg_size: "41943040B" },
          ],
        },
      ],
    });
    expect(() => parseLvExtents(split, PVS)).toThrow(expect.objectContaining({ code: "Disk.LvmFailed" }));
    const striped = LVS.replace('"segtype":"linear"', '"segtype":"striped"');
    expect(() => parseLvExtents(striped, PVS)).toThrow(expect.objectContaining({ code: "Disk.LvmFailed" }));
  });

  it("names VGs by disk number and LVs by their number, keeping /boot plain", () => {
    const plan = makePlan(inventory, { systemDiskGiB: 20, lvm: true, separateBoot: true, dataDisks: [{ index: 3, sizeGiB: 5, srcPath: "/mnt/disk1" }] });
    expect(plan.lvm).toBe(true);
    const [system, data] = plan.disks as [TargetDisk, TargetDisk];
    const sys = lvmLayout(system);
    expect(sys.vg).toBe("vg0");
    expect(sys.plain.map((p) => p.mountPoint)).toEqual(["/boot"]);
    expect(sys.lvs.map((l) => [l.name, l.part.mountPoint])).toEqual([["lv1", "/"]]);
    const d = lvmLayout(data);
    expect(d.vg).toBe("vg3");
    expect(d.plain).toEqual([]);
    expect(d.lvs.map((l) => [l.name, l.part.mountPoint])).toEqual([["lv1", "/mnt/disk1"]]);
    expect(lvDevicePath(plan, "/")).toBe("/dev/mapper/vg0-lv1");
    expect(lvDevicePath(plan, "/mnt/disk1")).toBe("/dev/mapper/vg3-lv1");
    expect(lvDevicePath(plan, "/boot")).toBeNull();
    expect(diskNumber("disk16")).toBe(16);
    expect(() => diskNumber("sda")).toThrow();
  });

  it("partitions an LVM disk as its plain partitions plus one PV over the rest", () => {
    const plan = makePlan(inventory, { systemDiskGiB: 20, lvm: true, separateBoot: true, bootMode: "uefi", dataDisks: [{ index: 1, sizeGiB: 5, srcPath: "/mnt/disk1" }] });
    const [system, data] = plan.disks as [TargetDisk, TargetDisk];
    expect(sfdiskScript(system, true).trim().split("\n").slice(3)).toEqual([
      "start=2048, size=256MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
      "size=1024MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4",
      "type=E6D6D379-F507-44C2-A23C-238F2A3DF928",
    ]);
    const mbr = makePlan(inventory, { systemDiskGiB: 20, lvm: true, separateBoot: true, dataDisks: [{ index: 1, sizeGiB: 5, srcPath: "/mnt/disk1" }] });
    expect(sfdiskScript(mbr.disks[0] as TargetDisk, true).trim().split("\n").slice(3)).toEqual(["start=2048, size=1024MiB, type=83, bootable", "type=8e"]);
    expect(sfdiskScript(data, true).trim().split("\n").slice(3)).toEqual(["start=2048, type=E6D6D379-F507-44C2-A23C-238F2A3DF928"]);
    // Without LVM the layout is the plain one.
    expect(sfdiskScript(system).trim().split("\n").slice(3)).toHaveLength(3);
    expect(sfdiskScript(system)).not.toContain("E6D6D379");
  });

  it("falls back to plain partitions when the source cannot activate LVM", () => {
    expect(lvmFallbackReason(inventory)).toBeNull();
    expect(lvmFallbackReason({ ...inventory, lvm: false })).toMatch(/no lvm2/);
    const old = { ...inventory, kernels: [{ version: "3.16.0-6-amd64", image: "/boot/vmlinuz-3.16.0-6-amd64", initramfs: null, virtio: null }] };
    expect(lvmFallbackReason(old, { fs: "xfs" })).toMatch(/3\.x/);
    expect(lvmFallbackReason(old, { fs: "ext4" })).toBeNull();
    const plan = makePlan({ ...inventory, lvm: false }, { systemDiskGiB: 20, lvm: true, separateBoot: true });
    expect(plan.lvm).toBe(false);
    expect(plan.disks[0]?.partitions.map((p) => p.mountPoint)).toEqual(["/boot", "/"]);
  });

  it("lets LVM commands see only the job's own devices", () => {
    const cfg = lvmConfig(["/dev/loop7"], "/jobs/a/lvm/lock");
    expect(cfg).toContain('filter = [ "a|^/dev/loop7$|", "r|.*|" ]');
    expect(cfg).toContain("global_filter");
    expect(cfg).toContain("activation = 0");
    expect(cfg).toContain("use_devicesfile = 0");
    expect(cfg).toContain('locking_dir = "/jobs/a/lvm/lock"');
  });
});

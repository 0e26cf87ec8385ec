import { describe, expect, it } from "vitest";
import type { SourceInventory } from "./inventory";
import { checkCreateJob, checkModifyJob, isCleanAbsolute, validateCreateJob } from "./job-rules";

const GiB = 2 ** 30;
const inventory = {
  sourceRoot: "/",
  collectedAt: "2026-01-01T00:00:00Z",
  hostname: "web-1",
  arch: "x86_64",
  os: { id: "debian", versionId: "12", prettyName: "Debian GNU/Linux 12 (bookworm)", idLike: [] },
  bootMode: "bios",
  canBoot: { bios: true, uefi: false },
  bootloader: { kind: "grub2", version: "2.06" },
  kernels: [],
  network: "ifupdown",
  disks: [],
  mounts: [
    { mountPoint: "/", device: "/dev/vda1", fs: "ext4", sizeBytes: 40 * GiB, usedBytes: 30 * GiB },
    { mountPoint: "/boot", device: "/dev/vda2", fs: "ext4", sizeBytes: GiB, usedBytes: GiB / 4 },
  ],
  systemDiskBytes: 41 * GiB,
  usedBytes: 30 * GiB,
  paths: [],
  lvm: false,
  selinux: "absent",
} satisfies SourceInventory;
const source = { sourceId: "s-1", name: "web-1", inventory };
const defaults = { jobId: "j-1", regionId: "local" };
const now = new Date("2026-01-01T00:00:00Z");

describe("job rules shared by the API and the console", () => {
  it("collects every field's problem, in the order the API checks them, and the API answers with the first", () => {
    const body = { SourceId: "s-1", Name: "", ImageName: "1bad", SystemDiskSize: 25, RateLimit: -1, CompressLevel: 11, RunOnce: false, ExecutionMethod: "Scheduled" };
    const r = checkCreateJob(body, now, source, defaults);
    expect(r.value).toBeNull();
    expect(r.issues.map((i) => [i.field, i.error.code])).toEqual([
      ["Name", "ReplicationJob.InvalidName"],
      ["ImageName", "ReplicationJob.InvalidImageName"],
      ["SystemDiskSize", "ReplicationJob.InvalidSystemDiskSize"],
      ["RateLimit", "ReplicationJob.InvalidRateLimit"],
      ["CompressLevel", "ReplicationJob.InvalidCompressLevel"],
      ["Frequency", "ReplicationJob.InvalidFrequency"],
      ["ScheduledStartTime", "ReplicationJob.InvalidScheduledStartTime"],
    ]);
    expect(r.issues[2]?.error.message).toBe("SystemDiskSize 25 GiB is smaller than the 30 GiB the source uses");
    expect(() => validateCreateJob(body, now, source, defaults)).toThrow(r.issues[0]?.error.message as string);
  });

  it("fills in the defaults of a valid body", () => {
    const r = checkCreateJob({ SourceId: "s-1", SystemDiskSize: 40, DataDisks: [{ Index: 1, Size: 20, SourcePath: "/srv" }], SystemDiskParts: [{ Path: "/boot" }] }, now, source, defaults);
    expect(r.issues).toEqual([]);
    expect(r.value?.name).toBe("web-1");
    expect(r.value?.settings).toMatchObject({ ImageName: "hoist-j-1", RegionId: "local", CompressLevel: 7, ParallelStreams: 4, SystemDiskParts: [{ Path: "/boot", Block: false }] });
  });

  it("names the field of a VPC without its vSwitch and of a mount point the source does not have", () => {
    const r = checkCreateJob({ SourceId: "s-1", NetMode: 2, VpcId: "vpc-1", SystemDiskParts: [{ Path: "/var" }] }, now, source, defaults);
    expect(r.issues.map((i) => [i.field, i.error.code])).toEqual([
      ["SystemDiskParts", "ReplicationJob.InvalidSystemDiskParts"],
      ["VSwitchId", "ReplicationJob.MissingVSwitch"],
    ]);
  });

  it("checks modify bodies field by field and refuses an empty one", () => {
    expect(checkModifyJob({ RateLimit: 1.5, Checksum: "yes" }, now).issues.map((i) => i.field)).toEqual(["RateLimit", "Checksum"]);
    expect(checkModifyJob({}, now).issues[0]?.error.code).toBe("Api.InvalidBody");
    expect(checkModifyJob({ RateLimit: 100 }, now).value).toEqual({ RateLimit: 100 });
  });

  it("takes only folders written the short way", () => {
    for (const p of ["/", "/srv", "/srv/data"]) expect(isCleanAbsolute(p)).toBe(true);
    for (const p of ["srv", "/srv/", "//srv", "/srv/../etc", "/./srv", "/srv\n"]) expect(isCleanAbsolute(p)).toBe(false);
  });
});

import { describe, expect, it } from "vitest";
import { debianInventory } from "../../../test/helpers/inventory";
import { checkCreateJob, checkModifyJob, isCleanAbsolute, validateCreateJob } from "./job-rules";

const GiB = 2 ** 30;
const inventory = debianInventory({
  mounts: [
    { mountPoint: "/", device: "/dev/vda1", fs: "ext4", sizeBytes: 40 * GiB, usedBytes: 30 * GiB },
    { mountPoint: "/boot", device: "/dev/vda2", fs: "ext4", sizeBytes: GiB, usedBytes: GiB / 4 },
  ],
  systemDiskBytes: 41 * GiB,
  usedBytes: 30 * GiB,
});
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

  describe("TargetType: an image, or an existing ECS instance (InstanceId), once", () => {
    const onto = (extra: Record<string, unknown> = {}, d: Parameters<typeof checkCreateJob>[3] = defaults) =>
      checkCreateJob({ SourceId: "s-1", TargetType: "TargetInstance", InstanceId: "i-bp1abcd2efgh3ijk4lmn", ...extra }, now, source, d);
    const problems = (r: ReturnType<typeof checkCreateJob>) => r.issues.map((i) => [i.field, i.error.code]);

    it("makes an image by default, with no InstanceId", () => {
      const r = checkCreateJob({ SourceId: "s-1" }, now, source, defaults);
      expect(r.value?.settings).toMatchObject({ TargetType: "Image", InstanceId: null, RunOnce: true });
      expect(checkCreateJob({ SourceId: "s-1", TargetType: "Image" }, now, source, defaults).value?.settings.TargetType).toBe("Image");
    });

    it("takes TargetInstance with the instance's id, run once", () => {
      const r = onto({ RegionId: "cn-hangzhou", DataDisks: [{ Index: 1, SourcePath: "/srv" }] });
      expect(r.issues).toEqual([]);
      expect(r.value?.settings).toMatchObject({ TargetType: "TargetInstance", InstanceId: "i-bp1abcd2efgh3ijk4lmn", RunOnce: true, Frequency: null, MaxNumberOfImageToKeep: null });
      expect(onto({ RunOnce: true }).issues).toEqual([]);
    });

    it("needs InstanceId shaped as an ECS instance id", () => {
      expect(problems(onto({ InstanceId: undefined }))).toEqual([["InstanceId", "ReplicationJob.InvalidInstanceId"]]);
      expect(onto({ InstanceId: undefined }).issues[0]?.error.message).toBe('TargetType "TargetInstance" needs InstanceId: the existing ECS instance to migrate onto');
      for (const bad of ["", "bp1abcd2efgh", "i-", "i-BP1ABCD", "i-bp1 abcd", `i-${"a".repeat(41)}`, "m-bp1abcd2efgh", 12345, null, ["i-bp1abcd"]]) {
        const r = onto({ InstanceId: bad });
        expect(problems(r), JSON.stringify(bad)).toEqual([["InstanceId", "ReplicationJob.InvalidInstanceId"]]);
        expect(r.issues[0]?.error.message).toMatch(/^InstanceId must be an ECS instance id such as i-bp1abcd2efgh3ijk4lmn \(got /);
        expect(r.issues[0]?.error.fix).toContain("InstanceId");
      }
      expect(onto({ InstanceId: "i-23abc" }).issues).toEqual([]);
    });

    it("refuses InstanceId without TargetInstance", () => {
      for (const body of [{ InstanceId: "i-bp1abcd2efgh3ijk4lmn" }, { TargetType: "Image", InstanceId: "i-bp1abcd2efgh3ijk4lmn" }]) {
        const r = checkCreateJob({ SourceId: "s-1", ...body }, now, source, defaults);
        expect(problems(r)).toEqual([["InstanceId", "ReplicationJob.InvalidInstanceId"]]);
        expect(r.issues[0]?.error.message).toContain('InstanceId goes only with TargetType "TargetInstance"');
      }
    });

    it("refuses a periodic TargetInstance job with its code and fix, and nothing more about the period", () => {
      for (const extra of [{ RunOnce: false }, { RunOnce: false, Frequency: 24, MaxNumberOfImageToKeep: 2 }]) {
        const r = onto(extra);
        expect(problems(r)).toEqual([["RunOnce", "ReplicationJob.InvalidRunOnce"]]);
        expect(r.issues[0]?.error.message).toContain("a TargetInstance job runs once");
        expect(r.issues[0]?.error.fix).toContain('TargetType "Image"');
      }
    });

    it("refuses an intermediate InstanceType: the destination is the intermediate instance", () => {
      expect(problems(onto({ InstanceType: "ecs.g6.large" }))).toEqual([["InstanceType", "ReplicationJob.InvalidInstanceType"]]);
    });

    it("keeps ContainerImage refused as unsupported and anything else as invalid", () => {
      expect(problems(checkCreateJob({ SourceId: "s-1", TargetType: "ContainerImage" }, now, source, defaults))).toEqual([["TargetType", "ReplicationJob.UnsupportedTargetType"]]);
      for (const bad of ["Disk", "targetinstance", 1, null]) {
        expect(problems(checkCreateJob({ SourceId: "s-1", TargetType: bad }, now, source, defaults))).toEqual([["TargetType", "ReplicationJob.InvalidTargetType"]]);
      }
    });

    it("refuses TargetInstance where the server's provider makes images only, saying which provider and how to get one that can", () => {
      const r = onto({}, { ...defaults, targetTypes: ["Image"], provider: "local" });
      expect(problems(r)).toEqual([["TargetType", "ReplicationJob.UnsupportedTargetType"]]);
      expect(r.issues[0]?.error.message).toBe("TargetType TargetInstance needs a cloud with instances to migrate onto, and the local provider makes images only");
      expect(r.issues[0]?.error.fix).toContain("hoist server --provider alibaba");
      // The InstanceId is still checked as such, not refused as an image job's.
      expect(problems(onto({ InstanceId: "nope" }, { ...defaults, targetTypes: ["Image"], provider: "local" }))).toEqual([
        ["TargetType", "ReplicationJob.UnsupportedTargetType"],
        ["InstanceId", "ReplicationJob.InvalidInstanceId"],
      ]);
      expect(onto({}, { ...defaults, targetTypes: ["Image", "TargetInstance"], provider: "alibaba" }).issues).toEqual([]);
      expect(checkCreateJob({ SourceId: "s-1" }, now, source, { ...defaults, targetTypes: ["Image"], provider: "local" }).issues).toEqual([]);
    });
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

import { describe, expect, it } from "vitest";
import { codeOf } from "../../../../test/helpers/errors";
import { createRequest, dataDiskFlag, destinationInstanceFlag, modifyRequest, numberFlag, tagFlag, timeFlag, wholeNumberFlag } from "./job-flags";

describe("hoist jobs flag syntax", () => {
  it("data disks: index:size:/path, size optional, repeatable, the path taken whole", () => {
    const disks = dataDiskFlag("2::/srv/a:b", dataDiskFlag("1:100:/mnt/data"));
    expect(disks).toEqual([
      { Index: 1, Size: 100, SourcePath: "/mnt/data" },
      { Index: 2, SourcePath: "/srv/a:b" },
    ]);
    for (const bad of ["1:100", "1:100:mnt", ":100:/x", "a:1:/x", "1:-5:/x", "1:1.5:/x"]) expect(codeOf(() => dataDiskFlag(bad)), bad).toBe("Config.InvalidDataDiskFlag");
  });

  it("--block-disk marks a data disk given with --data-disk as copied by block, and names no other", () => {
    const dataDisk = dataDiskFlag("2::/srv", dataDiskFlag("1:100:/mnt/data"));
    expect(createRequest({ source: "s-1", dataDisk, blockDisk: [1], verify: true }).DataDisks).toEqual([
      { Index: 1, Size: 100, SourcePath: "/mnt/data", Block: true },
      { Index: 2, SourcePath: "/srv" },
    ]);
    expect(codeOf(() => createRequest({ source: "s-1", dataDisk, blockDisk: [3], verify: true }))).toBe("Config.InvalidBlockDiskFlag");
    expect(codeOf(() => createRequest({ source: "s-1", blockDisk: [1], verify: true }))).toBe("Config.InvalidBlockDiskFlag");
  });

  it("--destination-instance makes a TargetInstance job onto that ECS instance", () => {
    expect(createRequest({ source: "s-1", destinationInstance: destinationInstanceFlag("i-bp1abcd2efgh3ijk4lmn"), verify: true })).toMatchObject({ TargetType: "TargetInstance", InstanceId: "i-bp1abcd2efgh3ijk4lmn" });
    expect(createRequest({ source: "s-1", verify: true })).not.toHaveProperty("TargetType");
    for (const bad of ["", "i-", "vm-1234", "I-BP1ABCD", `i-${"a".repeat(41)}`]) expect(codeOf(() => destinationInstanceFlag(bad)), bad).toBe("Config.InvalidDestinationInstance");
  });

  it("tags: key=value, key alone, a value may hold '='; an empty key is refused", () => {
    expect(tagFlag("b=x=y", tagFlag("a"))).toEqual([{ Key: "a" }, { Key: "b", Value: "x=y" }]);
    expect(tagFlag("c=")).toEqual([{ Key: "c", Value: "" }]);
    expect(codeOf(() => tagFlag("=v"))).toBe("Config.InvalidTagFlag");
    expect(codeOf(() => tagFlag(""))).toBe("Config.InvalidTagFlag");
  });

  it("numbers: syntax here, ranges at the server", () => {
    expect(wholeNumberFlag("--keep")("-3")).toBe(-3);
    expect(wholeNumberFlag("--keep")("500")).toBe(500);
    expect(numberFlag("--rate-limit")("12.5")).toBe(12.5);
    for (const bad of ["", "1e3", "10G", "1.5", "0x10"]) expect(codeOf(() => wholeNumberFlag("--keep")(bad)), bad).toBe("Config.InvalidNumber");
    expect(codeOf(() => numberFlag("--rate-limit")("fast"))).toBe("Config.InvalidNumber");
  });

  it("times: ISO 8601 with a zone, sent as UTC; no zone, no such day, or prose is refused", () => {
    expect(timeFlag("--at")("2030-01-31T23:00:00+01:00")).toBe("2030-01-31T22:00:00.000Z");
    expect(timeFlag("--at")("2030-01-31T22:00Z")).toBe("2030-01-31T22:00:00.000Z");
    for (const bad of ["2030-01-31T22:00:00", "2030-02-30T00:00:00Z", "2030-13-01T00:00:00Z", "tomorrow", "2030-01-31"]) expect(codeOf(() => timeFlag("--at")(bad)), bad).toBe("Config.InvalidTime");
  });
});

describe("hoist jobs create and modify bodies", () => {
  it("sends only what was given, in SMC's names", () => {
    expect(createRequest({ source: "s-1", verify: true })).toEqual({ SourceId: "s-1" });
    expect(
      createRequest({
        source: "s-1",
        name: "n",
        imageName: "img",
        region: "local",
        systemDiskSize: 40,
        dataDisk: [{ Index: 1, SourcePath: "/d" }],
        lvm: true,
        bootMode: "uefi",
        filesystem: "xfs",
        rateLimit: 0,
        compressLevel: 0,
        checksum: true,
        parallelStreams: 2,
        licenseType: "BYOL",
        instanceType: "ecs.g7.large",
        tag: [{ Key: "a", Value: "b" }],
        frequency: 12,
        keep: 3,
        at: "2030-01-31T22:00:00.000Z",
        validUntil: "2030-02-28T00:00:00.000Z",
        verify: false,
      }),
    ).toEqual({
      SourceId: "s-1",
      Name: "n",
      ImageName: "img",
      RegionId: "local",
      SystemDiskSize: 40,
      DataDisks: [{ Index: 1, SourcePath: "/d" }],
      Lvm: true,
      BootMode: "uefi",
      Filesystem: "xfs",
      RateLimit: 0,
      CompressLevel: 0,
      Checksum: true,
      ParallelStreams: 2,
      LicenseType: "BYOL",
      InstanceType: "ecs.g7.large",
      Tags: [{ Key: "a", Value: "b" }],
      RunOnce: false,
      Frequency: 12,
      MaxNumberOfImageToKeep: 3,
      ExecutionMethod: "Scheduled",
      ScheduledStartTime: "2030-01-31T22:00:00.000Z",
      ValidTime: "2030-02-28T00:00:00.000Z",
      VerifyImage: false,
    });
    expect(createRequest({ source: "s-1", createOnly: true, verify: true })).toEqual({ SourceId: "s-1", ExecutionMethod: "CreateOnly" });
  });

  it("refuses flags that contradict each other", () => {
    expect(codeOf(() => createRequest({ source: "s", at: "2030-01-01T00:00:00.000Z", createOnly: true, verify: true }))).toBe("Config.ConflictingFlags");
    expect(codeOf(() => createRequest({ source: "s", keep: 2, verify: true }))).toBe("Config.KeepNeedsFrequency");
  });

  it("modify: --no-checksum is a change, nothing at all is refused", () => {
    expect(modifyRequest({ checksum: false, keep: 4 })).toEqual({ Checksum: false, MaxNumberOfImageToKeep: 4 });
    expect(codeOf(() => modifyRequest({}))).toBe("Config.NothingToModify");
  });
});

import type { SourceServerDetail } from "@hoist/protocol";
import { describe, expect, it } from "vitest";
import { debianInventory } from "../../../test/helpers/inventory";
import { defaultsFor, formIssues, localTimeToIso, numberOrText, parseTags, toBody } from "./form-model";

const GiB = 2 ** 30;
const source = {
  sourceId: "s-1",
  name: "web-1",
  state: "Available",
  errorCode: null,
  statusInfo: null,
  hostname: "web-1",
  os: "Debian GNU/Linux 12 (bookworm)",
  arch: "x86_64",
  agentVersion: "0.1.0",
  activationCodeId: null,
  heartbeatSeconds: 30,
  lastHeartbeatAt: "2026-01-01T00:00:00Z",
  registeredAt: "2026-01-01T00:00:00Z",
  inventoryError: null,
  inventory: debianInventory({
    mounts: [
      { mountPoint: "/", device: "/dev/vda1", fs: "ext4", sizeBytes: 40 * GiB, usedBytes: 30 * GiB },
      { mountPoint: "/data", device: "/dev/vdb1", fs: "xfs", sizeBytes: 100 * GiB, usedBytes: 50 * GiB },
    ],
    systemDiskBytes: 40.5 * GiB,
    usedBytes: 30 * GiB,
  }),
} satisfies SourceServerDetail;

describe("the migration form's model", () => {
  it("opens with the source's system disk size, its mount points and the API's defaults, which the rules accept", () => {
    const f = defaultsFor(source);
    expect(f).toMatchObject({ name: "web-1", systemDiskSize: "41", compressLevel: "7", parallelStreams: "4", rateLimit: "0", mounts: [{ path: "/", block: false }, { path: "/data", block: false }] });
    expect(formIssues(source, f)).toEqual([]);
    expect(toBody("s-1", f)).toMatchObject({ SourceId: "s-1", Name: "web-1", SystemDiskSize: 41, CompressLevel: 7, ExecutionMethod: "Now" });
  });

  it("sends text that is not a number as typed, so the rules quote it", () => {
    expect(numberOrText(" 12 ")).toBe(12);
    expect(numberOrText("1.5")).toBe(1.5);
    expect(numberOrText("ten")).toBe("ten");
    const f = { ...defaultsFor(source), rateLimit: "ten", systemDiskSize: "25" };
    expect(formIssues(source, f).map((i) => [i.field, i.error.message])).toEqual([
      ["SystemDiskSize", "SystemDiskSize 25 GiB is smaller than the 30 GiB the source uses"],
      ["RateLimit", 'RateLimit must be a whole number of Mbit/s from 0 to 100000 (got "ten")'],
    ]);
  });

  it("puts a mount point on a data disk or on the system disk, never both, and copies only / of the system disk by block", () => {
    const f = { ...defaultsFor(source), dataDisks: [{ index: "1", size: "60", sourcePath: "/data", block: false }] };
    f.mounts = f.mounts.map((m) => (m.path === "/" ? { ...m, block: true } : m));
    const body = toBody("s-1", f);
    expect(body["DataDisks"]).toEqual([{ Index: 1, Size: 60, SourcePath: "/data" }]);
    expect(body["SystemDiskParts"]).toEqual([{ Path: "/", Block: true }]);
    expect(formIssues(source, f)).toEqual([]);
    expect(formIssues(source, { ...f, separateBoot: true }).map((i) => [i.field, i.error.code])).toEqual([["SystemDiskParts", "ReplicationJob.BlockRootWithOtherPartitions"]]);
  });

  it("migrates onto an existing ECS instance with the API's own checks of InstanceId and RunOnce", () => {
    const onto = { ...defaultsFor(source), targetType: "TargetInstance", regionId: "cn-hangzhou" };
    expect(defaultsFor(source)).toMatchObject({ targetType: "Image", instanceId: "" });
    const missing = formIssues(source, onto);
    expect(missing.map((i) => [i.field, i.error.code, i.error.message])).toEqual([
      ["InstanceId", "ReplicationJob.InvalidInstanceId", 'TargetType "TargetInstance" needs InstanceId: the existing ECS instance to migrate onto'],
    ]);
    expect(formIssues(source, { ...onto, instanceId: "web-1" }).map((i) => [i.field, i.error.message])).toEqual([
      ["InstanceId", 'InstanceId must be an ECS instance id such as i-bp1abcd2efgh3ijk4lmn (got "web-1")'],
    ]);
    const good = { ...onto, instanceId: " i-bp1abcd2efgh3ijk4lmn " };
    expect(formIssues(source, good)).toEqual([]);
    expect(toBody("s-1", good)).toMatchObject({ TargetType: "TargetInstance", InstanceId: "i-bp1abcd2efgh3ijk4lmn", RegionId: "cn-hangzhou" });
    expect(formIssues(source, { ...good, periodic: true, frequency: "24" }).map((i) => [i.field, i.error.code])).toEqual([["RunOnce", "ReplicationJob.InvalidRunOnce"]]);
    // Back to an image: the instance typed before is not sent.
    const image = toBody("s-1", { ...good, targetType: "Image" });
    expect(image).not.toHaveProperty("InstanceId");
    expect(image).not.toHaveProperty("TargetType");
    expect(formIssues(source, { ...good, targetType: "Image" })).toEqual([]);
  });

  it("makes a periodic job's fields and tags, and local times into UTC", () => {
    const f = { ...defaultsFor(source), periodic: true, frequency: "", tags: "env=prod\nteam = web\nsolo" };
    expect(formIssues(source, f).map((i) => i.error.message)).toEqual(["a periodic job (RunOnce false) needs Frequency"]);
    expect(parseTags(f.tags)).toEqual([
      { Key: "env", Value: "prod" },
      { Key: "team", Value: "web" },
      { Key: "solo", Value: "" },
    ]);
    expect(localTimeToIso("2030-01-31T02:00")).toBe(new Date("2030-01-31T02:00").toISOString());
    expect(localTimeToIso("tomorrow")).toBe("tomorrow");
  });
});

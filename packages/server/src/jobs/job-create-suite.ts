// Creating replication jobs over HTTP: defaults, what each ExecutionMethod
// does, every invalid field refused with its own code, and one unfinished job
// per source, also when two replicas create at once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, type JobApiDbs, REGION, startHarness } from "./job-api-harness";

const GiB = 2 ** 30;
const minutesAhead = (m: number): string => new Date(Date.now() + m * 60_000).toISOString();

type Case = [what: string, body: Record<string, unknown>, code: string];

const disk = (Index: number, SourcePath: string, extra: Record<string, unknown> = {}) => ({ Index, SourcePath, ...extra });
const tags = (n: number) => Array.from({ length: n }, (_, i) => ({ Key: `k${i}`, Value: `v${i}` }));

// The body fields each case adds to { SourceId } (the source uses 25 GiB, mounts /, /boot and /data).
const INVALID: Case[] = [
  ["an unknown field", { Foo: 1 }, "Api.InvalidBody"],
  ["a field in the wrong case", { imageName: "web" }, "Api.InvalidBody"],
  ["an empty Name", { Name: "  " }, "ReplicationJob.InvalidName"],
  ["a Name of 129 characters", { Name: "n".repeat(129) }, "ReplicationJob.InvalidName"],
  ["a Name that is not text", { Name: 5 }, "ReplicationJob.InvalidName"],
  ["a Name with a newline", { Name: "a\nb" }, "ReplicationJob.InvalidName"],
  ["a Description of 257 characters", { Description: "d".repeat(257) }, "ReplicationJob.InvalidDescription"],
  ["a Description that is not text", { Description: ["x"] }, "ReplicationJob.InvalidDescription"],
  ["TargetType TargetInstance without InstanceId", { TargetType: "TargetInstance" }, "ReplicationJob.InvalidInstanceId"],
  ["an InstanceId that is not an ECS instance id", { TargetType: "TargetInstance", InstanceId: "bp1abcd2efgh" }, "ReplicationJob.InvalidInstanceId"],
  ["an InstanceId in capitals", { TargetType: "TargetInstance", InstanceId: "i-BP1ABCD2EFGH" }, "ReplicationJob.InvalidInstanceId"],
  ["an InstanceId that is not text", { TargetType: "TargetInstance", InstanceId: 7 }, "ReplicationJob.InvalidInstanceId"],
  ["an InstanceId without TargetType TargetInstance", { InstanceId: "i-bp1abcd2efgh3ijk4lmn" }, "ReplicationJob.InvalidInstanceId"],
  ["an InstanceId on an image job", { TargetType: "Image", InstanceId: "i-bp1abcd2efgh3ijk4lmn" }, "ReplicationJob.InvalidInstanceId"],
  ["a periodic TargetInstance job", { TargetType: "TargetInstance", InstanceId: "i-bp1abcd2efgh3ijk4lmn", RunOnce: false, Frequency: 24 }, "ReplicationJob.InvalidRunOnce"],
  ["an intermediate InstanceType on a TargetInstance job", { TargetType: "TargetInstance", InstanceId: "i-bp1abcd2efgh3ijk4lmn", InstanceType: "ecs.g6.large" }, "ReplicationJob.InvalidInstanceType"],
  ["TargetType ContainerImage", { TargetType: "ContainerImage" }, "ReplicationJob.UnsupportedTargetType"],
  ["an unknown TargetType", { TargetType: "Disk" }, "ReplicationJob.InvalidTargetType"],
  ["a RegionId with a space", { RegionId: "cn hangzhou" }, "ReplicationJob.InvalidRegionId"],
  ["an empty RegionId", { RegionId: "" }, "ReplicationJob.InvalidRegionId"],
  ["an ImageName of one character", { ImageName: "a" }, "ReplicationJob.InvalidImageName"],
  ["an ImageName of 97 characters", { ImageName: `a${"b".repeat(96)}` }, "ReplicationJob.InvalidImageName"],
  ["an ImageName starting with a digit", { ImageName: "1web" }, "ReplicationJob.InvalidImageName"],
  ["an ImageName with a slash", { ImageName: "web/1" }, "ReplicationJob.InvalidImageName"],
  ["SystemDiskSize 19", { SystemDiskSize: 19 }, "ReplicationJob.InvalidSystemDiskSize"],
  ["SystemDiskSize 2049", { SystemDiskSize: 2049 }, "ReplicationJob.InvalidSystemDiskSize"],
  ["SystemDiskSize 40.5", { SystemDiskSize: 40.5 }, "ReplicationJob.InvalidSystemDiskSize"],
  ["SystemDiskSize as text", { SystemDiskSize: "40" }, "ReplicationJob.InvalidSystemDiskSize"],
  ["a SystemDiskSize below what the source uses", { SystemDiskSize: 20 }, "ReplicationJob.InvalidSystemDiskSize"],
  ["DataDisks that are not a list", { DataDisks: { Index: 1 } }, "ReplicationJob.InvalidDataDisks"],
  ["17 data disks", { DataDisks: Array.from({ length: 17 }, (_, i) => disk((i % 16) + 1, `/d${i}`)) }, "ReplicationJob.InvalidDataDisks"],
  ["a data disk Index 0", { DataDisks: [disk(0, "/data")] }, "ReplicationJob.InvalidDataDisks"],
  ["a data disk Index 17", { DataDisks: [disk(17, "/data")] }, "ReplicationJob.InvalidDataDisks"],
  ["one Index twice", { DataDisks: [disk(1, "/data"), disk(1, "/srv")] }, "ReplicationJob.InvalidDataDisks"],
  ["a data disk of 19 GiB", { DataDisks: [disk(1, "/data", { Size: 19 })] }, "ReplicationJob.InvalidDataDisks"],
  ["a data disk of 32769 GiB", { DataDisks: [disk(1, "/data", { Size: 32769 })] }, "ReplicationJob.InvalidDataDisks"],
  ["a data disk of 100.5 GiB", { DataDisks: [disk(1, "/data", { Size: 100.5 })] }, "ReplicationJob.InvalidDataDisks"],
  ["a relative SourcePath", { DataDisks: [disk(1, "data")] }, "ReplicationJob.InvalidDataDisks"],
  ["SourcePath /", { DataDisks: [disk(1, "/")] }, "ReplicationJob.InvalidDataDisks"],
  ["a SourcePath with ..", { DataDisks: [disk(1, "/data/../etc")] }, "ReplicationJob.InvalidDataDisks"],
  ["a SourcePath with a trailing /", { DataDisks: [disk(1, "/data/")] }, "ReplicationJob.InvalidDataDisks"],
  ["a SourcePath with //", { DataDisks: [disk(1, "/data//db")] }, "ReplicationJob.InvalidDataDisks"],
  ["a SourcePath under /proc", { DataDisks: [disk(1, "/proc/1")] }, "ReplicationJob.InvalidDataDisks"],
  ["a SourcePath inside another disk's", { DataDisks: [disk(1, "/data"), disk(2, "/data/db")] }, "ReplicationJob.InvalidDataDisks"],
  ["one SourcePath twice", { DataDisks: [disk(1, "/data"), disk(2, "/data")] }, "ReplicationJob.InvalidDataDisks"],
  ["a data disk with an unknown field", { DataDisks: [disk(1, "/data", { Fs: "xfs" })] }, "ReplicationJob.InvalidDataDisks"],
  ["a data disk without SourcePath", { DataDisks: [{ Index: 1 }] }, "ReplicationJob.InvalidDataDisks"],
  ["a data disk copied by block with Lvm on", { DataDisks: [disk(1, "/data", { Block: true })], Lvm: true }, "ReplicationJob.BlockWithLvm"],
  ["block replication of a system disk part other than /", { SystemDiskParts: [{ Path: "/boot", Block: true }] }, "ReplicationJob.BlockReplicationUnavailable"],
  ["/ copied by block with Lvm on", { SystemDiskParts: [{ Path: "/", Block: true }], Lvm: true, SeparateBoot: true }, "ReplicationJob.BlockRootWithOtherPartitions"],
  ["/ copied by block beside a separate /boot", { SystemDiskParts: [{ Path: "/", Block: true }], SeparateBoot: true }, "ReplicationJob.BlockRootWithOtherPartitions"],
  ["/ copied by block into a UEFI image", { SystemDiskParts: [{ Path: "/", Block: true }], BootMode: "uefi" }, "ReplicationJob.BlockRootWithOtherPartitions"],
  ["a system disk part that is not a mount point", { SystemDiskParts: [{ Path: "/srv" }] }, "ReplicationJob.InvalidSystemDiskParts"],
  ["one system disk part twice", { SystemDiskParts: [{ Path: "/boot" }, { Path: "/boot" }] }, "ReplicationJob.InvalidSystemDiskParts"],
  ["a system disk part that is also a data disk", { SystemDiskParts: [{ Path: "/data" }], DataDisks: [disk(1, "/data")] }, "ReplicationJob.InvalidSystemDiskParts"],
  ["BootMode legacy", { BootMode: "legacy" }, "ReplicationJob.InvalidBootMode"],
  ["Filesystem btrfs", { Filesystem: "btrfs" }, "ReplicationJob.InvalidFilesystem"],
  ["SeparateBoot as text", { SeparateBoot: "yes" }, "ReplicationJob.InvalidSeparateBoot"],
  ["Lvm as a number", { Lvm: 1 }, "ReplicationJob.InvalidLvm"],
  ["NetMode 1", { NetMode: 1 }, "ReplicationJob.InvalidNetMode"],
  ["NetMode as text", { NetMode: "2" }, "ReplicationJob.InvalidNetMode"],
  ["NetMode 2 without VSwitchId", { NetMode: 2, VpcId: "vpc-1" }, "ReplicationJob.MissingVSwitch"],
  ["NetMode 2 without VpcId and VSwitchId", { NetMode: 2 }, "ReplicationJob.MissingVSwitch"],
  ["a VpcId with a space", { NetMode: 2, VpcId: "vpc 1", VSwitchId: "vsw-1" }, "ReplicationJob.InvalidVpcId"],
  ["an empty VSwitchId", { NetMode: 2, VpcId: "vpc-1", VSwitchId: "" }, "ReplicationJob.InvalidVSwitchId"],
  ["RateLimit -1", { RateLimit: -1 }, "ReplicationJob.InvalidRateLimit"],
  ["RateLimit 100001", { RateLimit: 100_001 }, "ReplicationJob.InvalidRateLimit"],
  ["RateLimit 1.5", { RateLimit: 1.5 }, "ReplicationJob.InvalidRateLimit"],
  ["CompressLevel 11", { CompressLevel: 11 }, "ReplicationJob.InvalidCompressLevel"],
  ["CompressLevel -1", { CompressLevel: -1 }, "ReplicationJob.InvalidCompressLevel"],
  ["Checksum as a number", { Checksum: 1 }, "ReplicationJob.InvalidChecksum"],
  ['Ssl "Off"', { Ssl: "Off" }, "ReplicationJob.InvalidSsl"],
  ['Ssl "yes"', { Ssl: "yes" }, "ReplicationJob.InvalidSsl"],
  ["ParallelStreams 0", { ParallelStreams: 0 }, "ReplicationJob.InvalidParallelStreams"],
  ["ParallelStreams 17", { ParallelStreams: 17 }, "ReplicationJob.InvalidParallelStreams"],
  ["LicenseType Free", { LicenseType: "Free" }, "ReplicationJob.InvalidLicenseType"],
  ["an InstanceType with a space", { InstanceType: "ecs g6" }, "ReplicationJob.InvalidInstanceType"],
  ["21 tags", { Tags: tags(21) }, "ReplicationJob.InvalidTags"],
  ["Tags that are not a list", { Tags: { Key: "a" } }, "ReplicationJob.InvalidTags"],
  ['a tag key starting with "aliyun"', { Tags: [{ Key: "aliyun-team", Value: "x" }] }, "ReplicationJob.InvalidTags"],
  ['a tag key starting with "acs:"', { Tags: [{ Key: "acs:owner", Value: "x" }] }, "ReplicationJob.InvalidTags"],
  ["an empty tag key", { Tags: [{ Key: "", Value: "x" }] }, "ReplicationJob.InvalidTags"],
  ["a tag key of 129 characters", { Tags: [{ Key: "k".repeat(129) }] }, "ReplicationJob.InvalidTags"],
  ["one tag key twice", { Tags: [{ Key: "team" }, { Key: "team", Value: "b" }] }, "ReplicationJob.InvalidTags"],
  ["a tag value of 129 characters", { Tags: [{ Key: "team", Value: "v".repeat(129) }] }, "ReplicationJob.InvalidTags"],
  ["RunOnce as text", { RunOnce: "false" }, "ReplicationJob.InvalidRunOnce"],
  ["a periodic job without Frequency", { RunOnce: false }, "ReplicationJob.InvalidFrequency"],
  ["Frequency 0", { RunOnce: false, Frequency: 0 }, "ReplicationJob.InvalidFrequency"],
  ["Frequency 169", { RunOnce: false, Frequency: 169 }, "ReplicationJob.InvalidFrequency"],
  ["Frequency 1.5", { RunOnce: false, Frequency: 1.5 }, "ReplicationJob.InvalidFrequency"],
  ["Frequency on a run-once job", { Frequency: 24 }, "ReplicationJob.InvalidFrequency"],
  ["MaxNumberOfImageToKeep 0", { RunOnce: false, Frequency: 24, MaxNumberOfImageToKeep: 0 }, "ReplicationJob.InvalidMaxNumberOfImageToKeep"],
  ["MaxNumberOfImageToKeep 11", { RunOnce: false, Frequency: 24, MaxNumberOfImageToKeep: 11 }, "ReplicationJob.InvalidMaxNumberOfImageToKeep"],
  ["MaxNumberOfImageToKeep on a run-once job", { MaxNumberOfImageToKeep: 2 }, "ReplicationJob.InvalidMaxNumberOfImageToKeep"],
  ["ExecutionMethod Later", { ExecutionMethod: "Later" }, "ReplicationJob.InvalidExecutionMethod"],
  ["Scheduled without ScheduledStartTime", { ExecutionMethod: "Scheduled" }, "ReplicationJob.InvalidScheduledStartTime"],
  ["a ScheduledStartTime 5 minutes ahead", { ExecutionMethod: "Scheduled", ScheduledStartTime: minutesAhead(5) }, "ReplicationJob.InvalidScheduledStartTime"],
  ["a ScheduledStartTime in the past", { ExecutionMethod: "Scheduled", ScheduledStartTime: "2020-01-01T00:00:00Z" }, "ReplicationJob.InvalidScheduledStartTime"],
  ["a ScheduledStartTime that is not a time", { ExecutionMethod: "Scheduled", ScheduledStartTime: "tomorrow" }, "ReplicationJob.InvalidScheduledStartTime"],
  ["a ScheduledStartTime without a zone", { ExecutionMethod: "Scheduled", ScheduledStartTime: "2030-01-01T00:00:00" }, "ReplicationJob.InvalidScheduledStartTime"],
  ["a ScheduledStartTime with ExecutionMethod Now", { ScheduledStartTime: minutesAhead(60) }, "ReplicationJob.InvalidScheduledStartTime"],
  ["a ScheduledStartTime after ValidTime", { ExecutionMethod: "Scheduled", ScheduledStartTime: minutesAhead(120), ValidTime: minutesAhead(60) }, "ReplicationJob.InvalidScheduledStartTime"],
  ["a ValidTime in the past", { ValidTime: "2020-01-01T00:00:00Z" }, "ReplicationJob.InvalidValidTime"],
  ["a ValidTime that is not a time", { ValidTime: "next week" }, "ReplicationJob.InvalidValidTime"],
  ["VerifyImage as text", { VerifyImage: "yes" }, "ReplicationJob.InvalidVerifyImage"],
];

export function runJobCreateTests(dbs: JobApiDbs): void {
  describe(`creating replication jobs: ${dbs.name}`, () => {
    let h: Harness;
    let busy: string;
    beforeAll(async () => {
      h = await startHarness(dbs);
      busy = (await h.newSource({ usedBytes: 25 * GiB })).sourceId;
    }, 120_000);
    afterAll(async () => {
      await h?.close();
    });

    it("ExecutionMethod Now (the default) runs the job at once with the defaults filled in, and takes the source", async () => {
      const r = await h.createJob();
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body).toMatchObject({
        JobId: expect.stringMatching(/^j-[0-9a-z]{20}$/),
        SourceId: r.sourceId,
        Name: expect.stringMatching(/^src-\d+$/),
        Description: "",
        Status: "Running",
        BusinessStatus: "Preparing",
        Progress: 0,
        Transfer: null,
        TargetType: "Image",
        InstanceId: null,
        RegionId: REGION,
        ImageName: `hoist-${r.jobId}`,
        SystemDiskSize: null,
        DataDisks: [],
        SystemDiskParts: [],
        BootMode: "auto",
        Filesystem: "ext4",
        NetMode: 0,
        RateLimit: 0,
        CompressLevel: 7,
        Checksum: false,
        Ssl: "Auto",
        ParallelStreams: 4,
        LicenseType: "Aliyun",
        Tags: [],
        RunOnce: true,
        Frequency: null,
        MaxNumberOfImageToKeep: null,
        ExecutionMethod: "Now",
        VerifyImage: true,
        Images: [],
        ImageId: null,
        NextRunTime: null,
        EndTime: null,
      });
      expect(Math.abs(new Date(r.body["StartTime"] as string).getTime() - Date.now())).toBeLessThan(60_000);
      expect(h.starts(r.jobId)).toEqual([{ jobId: r.jobId, at: undefined }]);
      expect((await h.a.call("GET", `/v1/sources/${r.sourceId}`)).body["state"]).toBe("InUse");
      expect(await h.b.call("GET", `/v1/jobs/${r.jobId}`)).toMatchObject({ status: 200, body: { JobId: r.jobId, Status: "Running" } });
    });

    it("TargetType TargetInstance makes a one-time job onto that instance, and every replica shows it so", async () => {
      const r = await h.createJob({ TargetType: "TargetInstance", InstanceId: "i-bp1abcd2efgh3ijk4lmn", RegionId: "cn-hangzhou", DataDisks: [disk(1, "/data")] });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body).toMatchObject({ TargetType: "TargetInstance", InstanceId: "i-bp1abcd2efgh3ijk4lmn", RunOnce: true, Frequency: null, Status: "Running", BusinessStatus: "Preparing" });
      expect(h.starts(r.jobId)).toEqual([{ jobId: r.jobId, at: undefined }]);
      expect((await h.b.call("GET", `/v1/jobs/${r.jobId}`)).body).toMatchObject({ TargetType: "TargetInstance", InstanceId: "i-bp1abcd2efgh3ijk4lmn" });
      const listed = (await h.b.call("GET", `/v1/jobs?sourceId=${r.sourceId}`)).body["jobs"] as Record<string, unknown>[];
      expect(listed.map((j) => [j["TargetType"], j["InstanceId"]])).toEqual([["TargetInstance", "i-bp1abcd2efgh3ijk4lmn"]]);
    });

    it("refuses TargetInstance on a server whose provider makes images only (local), with the fix, and stores nothing", async () => {
      const { sourceId } = await h.newSource();
      const local = await h.local();
      const r = await local.call("POST", "/v1/jobs", { SourceId: sourceId, TargetType: "TargetInstance", InstanceId: "i-bp1abcd2efgh3ijk4lmn" });
      expect(r).toMatchObject({
        status: 400,
        body: {
          code: "ReplicationJob.UnsupportedTargetType",
          message: "TargetType TargetInstance needs a cloud with instances to migrate onto, and the local provider makes images only",
          fix: expect.stringContaining("hoist server --provider alibaba"),
          retryable: false,
        },
      });
      expect((await local.call("GET", `/v1/sources/${sourceId}`)).body["state"]).toBe("Available");
      expect((await local.call("GET", `/v1/sources/${sourceId}/jobs`)).body["total"]).toBe(0);
      // The same server takes the source's image job.
      expect((await local.call("POST", "/v1/jobs", { SourceId: sourceId, ExecutionMethod: "CreateOnly" })).status).toBe(201);
    });

    it("takes one unfinished job per destination instance", async () => {
      const onto = { TargetType: "TargetInstance", InstanceId: "i-bp1busy0destination", ExecutionMethod: "CreateOnly" };
      const first = await h.createJob(onto);
      expect(first.status, JSON.stringify(first.body)).toBe(201);
      const second = await h.createJob(onto);
      expect(second).toMatchObject({ status: 400, body: { code: "ReplicationJob.DestinationBusy", message: expect.stringContaining(first.jobId), fix: expect.any(String) } });
      expect((await h.a.call("GET", `/v1/sources/${second.sourceId}`)).body["state"]).toBe("Available");
      // Another instance, or an image, is fine meanwhile; once the first job is gone the instance is free.
      expect((await h.createJob({ ...onto, InstanceId: "i-bp1other0destination" })).status).toBe(201);
      expect((await h.a.call("DELETE", `/v1/jobs/${first.jobId}`)).status).toBe(202);
      expect((await h.a.call("POST", "/v1/jobs", { SourceId: second.sourceId, ...onto })).status).toBe(201);
    });

    it("reads a job stored before InstanceId existed as an image job with InstanceId null", async () => {
      const r = await h.createJob({ ExecutionMethod: "CreateOnly" });
      await h.db.query("update replication_jobs set settings = settings - 'InstanceId' where job_id = $1", [r.jobId]);
      const stored = await h.db.query<{ has: boolean }>("select settings ? 'InstanceId' as has from replication_jobs where job_id = $1", [r.jobId]);
      expect(stored[0]?.has).toBe(false);
      expect((await h.b.call("GET", `/v1/jobs/${r.jobId}`)).body).toMatchObject({ JobId: r.jobId, TargetType: "Image", InstanceId: null });
    });

    it("ExecutionMethod Scheduled waits until ScheduledStartTime and is queued for then", async () => {
      const at = minutesAhead(11);
      const r = await h.createJob({ ExecutionMethod: "Scheduled", ScheduledStartTime: at, ValidTime: minutesAhead(120) });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body).toMatchObject({ Status: "Waiting", BusinessStatus: null, NextRunTime: at, ScheduledStartTime: at, StartTime: null });
      expect(h.starts(r.jobId)).toEqual([{ jobId: r.jobId, at }]);
      expect((await h.a.call("GET", `/v1/sources/${r.sourceId}`)).body["state"]).toBe("InUse");
    });

    it("ExecutionMethod CreateOnly leaves the job Ready and queues nothing", async () => {
      const r = await h.createJob({ ExecutionMethod: "CreateOnly" });
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({ Status: "Ready", BusinessStatus: null, StartTime: null, NextRunTime: null });
      expect(h.starts(r.jobId)).toEqual([]);
      expect((await h.a.call("GET", `/v1/sources/${r.sourceId}`)).body["state"]).toBe("InUse");
    });

    it("a periodic job keeps one image unless told otherwise", async () => {
      const r = await h.createJob({ RunOnce: false, Frequency: 24, ExecutionMethod: "CreateOnly" });
      expect(r.body).toMatchObject({ RunOnce: false, Frequency: 24, MaxNumberOfImageToKeep: 1 });
    });

    it("accepts every range at its ends and keeps the settings as given", async () => {
      const { sourceId } = await h.newSource({ usedBytes: 10 * GiB });
      const low = await h.createJob({
        SourceId: sourceId,
        ExecutionMethod: "CreateOnly",
        Name: "n",
        ImageName: "ab",
        SystemDiskSize: 20,
        RateLimit: 0,
        CompressLevel: 0,
        ParallelStreams: 1,
        RunOnce: false,
        Frequency: 1,
        MaxNumberOfImageToKeep: 1,
        BootMode: "UEFI",
        Ssl: "On",
        LicenseType: "BYOL",
        Tags: [{ Key: "team" }],
      });
      expect(low.status, JSON.stringify(low.body)).toBe(201);
      expect(low.body).toMatchObject({ ImageName: "ab", SystemDiskSize: 20, BootMode: "uefi", Ssl: "On", LicenseType: "BYOL", Tags: [{ Key: "team", Value: "" }] });
      const validTime = minutesAhead(24 * 60);
      const high = await h.createJob({
        ExecutionMethod: "CreateOnly",
        Name: "n".repeat(128),
        Description: "d".repeat(256),
        RegionId: "cn-hangzhou",
        ImageName: `a${"b".repeat(95)}`,
        SystemDiskSize: 2048,
        DataDisks: Array.from({ length: 16 }, (_, i) => disk(16 - i, `/data/d${i}`, { Size: i % 2 ? 20 : 32768 })),
        SystemDiskParts: [{ Path: "/" }, { Path: "/boot", Block: false }],
        Filesystem: "xfs",
        SeparateBoot: true,
        Lvm: true,
        NetMode: 2,
        VpcId: "vpc-bp1",
        VSwitchId: "vsw-bp1",
        RateLimit: 100_000,
        CompressLevel: 10,
        Checksum: true,
        ParallelStreams: 16,
        InstanceType: "ecs.g6.large",
        Tags: tags(20),
        RunOnce: false,
        Frequency: 168,
        MaxNumberOfImageToKeep: 10,
        ValidTime: validTime,
        VerifyImage: false,
      });
      expect(high.status, JSON.stringify(high.body)).toBe(201);
      expect(high.body).toMatchObject({ RegionId: "cn-hangzhou", SystemDiskSize: 2048, NetMode: 2, VpcId: "vpc-bp1", VSwitchId: "vsw-bp1", Frequency: 168, MaxNumberOfImageToKeep: 10 });
      expect(high.body["ValidTime"]).toBe(validTime);
      expect(high.body["DataDisks"]).toHaveLength(16);
      expect((high.body["DataDisks"] as unknown[])[0]).toEqual({ Index: 16, Size: 32768, SourcePath: "/data/d0", Block: false });
      expect(high.body["SystemDiskParts"]).toEqual([
        { Path: "/", Block: false },
        { Path: "/boot", Block: false },
      ]);
      expect(high.body["Tags"]).toHaveLength(20);
    });

    it("takes / copied by block on a BIOS image and shows it so", async () => {
      const r = await h.createJob({ SystemDiskParts: [{ Path: "/", Block: true }], BootMode: "bios" });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body["SystemDiskParts"]).toEqual([{ Path: "/", Block: true }]);
    });

    it("takes a data disk copied by block and shows it so", async () => {
      const r = await h.createJob({ DataDisks: [{ Index: 1, SourcePath: "/data", Block: true }, { Index: 2, SourcePath: "/srv" }] });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body["DataDisks"]).toEqual([
        { Index: 1, Size: null, SourcePath: "/data", Block: true },
        { Index: 2, Size: null, SourcePath: "/srv", Block: false },
      ]);
    });

    for (const [what, body, code] of INVALID) {
      it(`refuses ${what} with 400 ${code}`, async () => {
        const r = await h.a.call("POST", "/v1/jobs", { SourceId: busy, ...body });
        expect(r, JSON.stringify(r.body)).toMatchObject({ status: 400, body: { code, retryable: false, fix: expect.any(String) } });
      });
    }

    it("a refused job leaves its source Available and stores nothing", async () => {
      expect((await h.a.call("GET", `/v1/sources/${busy}`)).body["state"]).toBe("Available");
      expect(await h.a.call("GET", `/v1/sources/${busy}/jobs`)).toMatchObject({ status: 200, body: { total: 0, jobs: [] } });
    });

    it("refuses a body that is not an object or names no source, an unknown source, and a source that is not Available", async () => {
      expect(await h.a.call("POST", "/v1/jobs", [1])).toMatchObject({ status: 400, body: { code: "Api.InvalidBody" } });
      expect(await h.a.call("POST", "/v1/jobs", {})).toMatchObject({ status: 400, body: { code: "Api.InvalidBody", message: expect.stringContaining("SourceId") } });
      expect(await h.a.call("POST", "/v1/jobs", { SourceId: 7 })).toMatchObject({ status: 400, body: { code: "Api.InvalidBody" } });
      expect(await h.a.call("POST", "/v1/jobs", { SourceId: "s-nothing" })).toMatchObject({ status: 404, body: { code: "SourceServer.NotFound" } });
      const { sourceId } = await h.newSource();
      await h.db.query("update sources set state = 'Unavailable', error_code = 'SourceServer.Offline' where source_id = $1", [sourceId]);
      const offline = await h.a.call("POST", "/v1/jobs", { SourceId: sourceId });
      expect(offline).toMatchObject({ status: 400, body: { code: "SourceServerState.Invalid", message: expect.stringContaining("offline") } });
      await h.db.query("update sources set state = 'Available', error_code = null where source_id = $1", [sourceId]);
      expect((await h.a.call("POST", "/v1/jobs", { SourceId: sourceId })).status).toBe(201);
    });

    it("a background start that fails leaves the job InError with its cause, and a retry runs it", async () => {
      h.a.work.failStart = true;
      let r: Awaited<ReturnType<Harness["createJob"]>>;
      try {
        r = await h.createJob();
      } finally {
        h.a.work.failStart = false;
      }
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({ Status: "InError", ErrorCode: "Queue.Unavailable", ErrorMessage: expect.stringContaining("cannot be reached"), ErrorFix: expect.any(String) });
      const retried = await h.a.call("POST", `/v1/jobs/${r.jobId}/retry`);
      expect(retried).toMatchObject({ status: 200, body: { Status: "Running", BusinessStatus: "Preparing", ErrorCode: null, ErrorMessage: null, ErrorFix: null } });
      expect(h.starts(r.jobId)).toHaveLength(1);
    });

    describe("one unfinished job per source", () => {
      it("refuses a second job while the first is unfinished, and takes one once it is gone", async () => {
        const first = await h.createJob({ ExecutionMethod: "CreateOnly" });
        const second = await h.a.call("POST", "/v1/jobs", { SourceId: first.sourceId });
        expect(second).toMatchObject({ status: 400, body: { code: "ReplicationJob.SourceBusy", message: expect.stringContaining(first.jobId) } });
        for (const status of ["Running", "Stopped", "InError", "Waiting"] as const) {
          await h.setStatus(first.jobId, status, status === "Waiting" ? null : "Syncing");
          expect((await h.a.call("POST", "/v1/jobs", { SourceId: first.sourceId })).body["code"]).toBe("ReplicationJob.SourceBusy");
        }
        await h.setStatus(first.jobId, "Ready");
        expect(await h.a.call("DELETE", `/v1/jobs/${first.jobId}`)).toMatchObject({ status: 202, body: { JobId: first.jobId, Status: "Deleting" } });
        expect((await h.a.call("GET", `/v1/sources/${first.sourceId}`)).body["state"]).toBe("Available");
        expect((await h.a.call("POST", "/v1/jobs", { SourceId: first.sourceId })).status).toBe(201);
      });

      it("a finished job does not hold its source", async () => {
        const first = await h.createJob({ ExecutionMethod: "CreateOnly" });
        await h.setStatus(first.jobId, "Finished");
        const next = await h.a.call("POST", "/v1/jobs", { SourceId: first.sourceId, ExecutionMethod: "CreateOnly" });
        expect(next.status, JSON.stringify(next.body)).toBe(201);
        // Deleting the old job later leaves the new one's hold on the source alone.
        expect((await h.a.call("DELETE", `/v1/jobs/${first.jobId}`)).status).toBe(202);
        expect((await h.a.call("GET", `/v1/sources/${first.sourceId}`)).body["state"]).toBe("InUse");
      });

      it("two replicas creating jobs for one source at once: exactly one is created", async () => {
        for (let round = 0; round < 6; round++) {
          const { sourceId } = await h.newSource();
          const replies = await Promise.all([h.a, h.b].map((r) => r.call("POST", "/v1/jobs", { SourceId: sourceId, ExecutionMethod: "CreateOnly" })));
          expect(replies.map((r) => r.status).sort()).toEqual([201, 400]);
          expect(replies.find((r) => r.status === 400)?.body["code"]).toBe("ReplicationJob.SourceBusy");
          expect((await h.a.call("GET", `/v1/sources/${sourceId}/jobs`)).body["total"]).toBe(1);
        }
      });
    });
  });
}

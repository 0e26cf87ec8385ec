// The Alibaba Cloud provider against the contract fake of ECS, VPC, OSS and
// ENS: what it sends (signed by the official SDK, checked by the fake), what it
// creates and releases, and how each account error of seed 002 reaches the
// user. Intermediate instances are real receivers on loopback addresses.
import { randomUUID } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { HoistError, SourceInventory, TargetPlan } from "@hoist/protocol";
import { createAlibabaProvider, type AlibabaProviderOptions, INTERMEDIATE_INSTANCE_NAME, receiverHealthy, TEMP_DISK_NAME } from "@hoist/providers";
import { createControlClient } from "@hoist/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AlibabaContractFake, diskMark, startAlibabaContractFake } from "../helpers/alibaba-contract-fake";
import { codeOfAsync } from "../helpers/errors";
import { debianInventory } from "../helpers/inventory";

const ROOT = join(import.meta.dirname, "..", "..");
const AK = "LTAI5tHoistContractFake";
const SECRET = `secret-${Math.random().toString(36).slice(2)}`;
const GiB = 1024 ** 3;

let base = "";
let fake: AlibabaContractFake;
const providers: ReturnType<typeof createAlibabaProvider>[] = [];

function freePorts(): { control: number; data: number } {
  const control = 20000 + Math.floor(Math.random() * 20000);
  return { control, data: control + 1 };
}

function provider(extra: Partial<AlibabaProviderOptions> = {}) {
  const p = createAlibabaProvider({
    credentials: { accessKeyId: AK, accessKeySecret: SECRET, source: "test" },
    regionId: "cn-hangzhou",
    endpointOverride: fake.endpoint,
    receiverBundleUrl: "https://example.invalid/hoist.mjs",
    receiverPorts: freePorts(),
    pollIntervalMs: 10,
    waitTimeoutMs: 60_000,
    retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 },
    ...extra,
  });
  providers.push(p);
  return p;
}

const plan = (dataGiB: number[] = [], usedGiB = 1): TargetPlan => ({
  bootMode: "bios",
  lvm: false,
  disks: [
    { key: "system", sizeGiB: 20, table: "mbr", partitions: [{ key: "system-p1", role: "root", mountPoint: "/", fs: "ext4", sizeMiB: null }], sourcePath: "/", usedBytes: usedGiB * GiB },
    ...dataGiB.map((g, i) => ({ key: `disk${i + 1}`, sizeGiB: g, table: "mbr" as const, partitions: [{ key: `disk${i + 1}-p1`, role: "data" as const, mountPoint: `/mnt/disk${i + 1}`, fs: "ext4" as const, sizeMiB: null }], sourcePath: `/mnt/disk${i + 1}`, usedBytes: GiB })),
  ],
});

const inventory = (arch = "x86_64", id = "debian") => debianInventory({ arch, os: { id, versionId: "12", prettyName: `${id} 12`, idLike: [] }, hostname: "web01" });

beforeAll(async () => {
  process.env["HOIST_BIN"] = join(ROOT, "apps/hoist/bin/hoist");
  base = mkdtempSync("/var/tmp/hoist-alibaba-");
  fake = await startAlibabaContractFake({ dir: join(base, "cloud"), accessKeyId: AK, accessKeySecret: SECRET, outOfStock: ["ecs.g7.large"] });
});

afterAll(async () => {
  await fake?.close();
  if (base) rmSync(base, { recursive: true, force: true });
});

describe("the Alibaba Cloud provider against the ECS/VPC/OSS/ENS contract fake", () => {
  it("runs the intermediate instance as the seeds describe and releases everything it created", async () => {
    const p = provider();
    const inst = await p.createIntermediateInstance({ region: "cn-hangzhou", label: "web01", plan: plan(), inventory: inventory() });
    // Every request was signed by the SDK and the fake recomputed each signature.
    expect(fake.signaturesVerified).toBe(fake.calls.length);
    const row = fake.instances.get(inst.instanceId)!;
    expect(row.name).toBe(INTERMEDIATE_INSTANCE_NAME);
    // ecs.g7.large is out of stock in the fake: the next type of the ordered list was used.
    expect(row.type).toBe("ecs.g6.large");
    const run = fake.calls.filter((c) => c.action === "RunInstances");
    expect(run.map((c) => c.params["InstanceType"])).toEqual(["ecs.g7.large", "ecs.g6.large"]);
    expect(run[1]!.params).toMatchObject({ InstanceChargeType: "PostPaid", "SystemDisk.Category": "cloud_essd" });
    expect(Number(run[1]!.params["InternetMaxBandwidthOut"])).toBeGreaterThan(0);
    expect(inst.host).toBe(row.publicIp);
    // The security group opens exactly the receiver's two ports inbound.
    const sg = fake.securityGroups.get(row.securityGroupId)!;
    expect(sg.rules.map((r) => r["PortRange"]).sort()).toEqual([`${inst.controlPort}/${inst.controlPort}`, `${inst.dataPort}/${inst.dataPort}`].sort());
    expect(await receiverHealthy(inst.host, inst.controlPort, inst.fingerprint)).toBe(true);
    // Found again from DescribeUserData alone, with the same identity.
    const again = await p.findIntermediateInstance(inst.instanceId);
    expect(again).toMatchObject({ instanceId: inst.instanceId, fingerprint: inst.fingerprint, adminToken: inst.adminToken });
    await p.releaseIntermediateInstance(inst.instanceId);
    expect(fake.instances.size).toBe(0);
    expect(fake.vpcs.size).toBe(0);
    expect(fake.vswitches.size).toBe(0);
    expect(fake.securityGroups.size).toBe(0);
    expect(await p.findIntermediateInstance(inst.instanceId)).toBeNull();
  });

  it("acts in the region and network a call's placement names, and finds the instance only there", async () => {
    // A provider configured for cn-hangzhou serves a job of another region in the user's own VPC (NetMode 2).
    const p = provider();
    const own = fake.seedNetwork("cn-shanghai");
    const placement = { region: "cn-shanghai", netMode: "vpc" as const, vpcId: own.vpcId, vSwitchId: own.vSwitchId, instanceType: "ecs.c7.large" };
    const inst = await p.createIntermediateInstance({ region: "cn-shanghai", placement, label: "job-1", plan: plan(), inventory: inventory() });
    const row = fake.instances.get(inst.instanceId)!;
    expect(row).toMatchObject({ region: "cn-shanghai", type: "ecs.c7.large", vSwitchId: own.vSwitchId, publicIp: "" });
    const run = fake.calls.filter((c) => c.action === "RunInstances").at(-1)!;
    expect(run.params).toMatchObject({ RegionId: "cn-shanghai", InstanceType: "ecs.c7.large", VSwitchId: own.vSwitchId, InternetMaxBandwidthOut: "0" });
    // In VPC mode the agent reaches the receiver at the private address.
    expect(inst.host).toBe(row.privateIp);
    // A caller that died before it recorded the instance takes the same one up again by its label.
    const again = await p.createIntermediateInstance({ region: "cn-shanghai", placement, label: "job-1", plan: plan(), inventory: inventory(), adopt: true });
    expect(again).toMatchObject({ instanceId: inst.instanceId, fingerprint: inst.fingerprint });
    expect(fake.calls.filter((c) => c.action === "RunInstances" && c.params["RegionId"] === "cn-shanghai")).toHaveLength(1);
    // The instance is not in the configured region: only the job's placement finds it.
    expect(await p.findIntermediateInstance(inst.instanceId)).toBeNull();
    expect(await p.findIntermediateInstance(inst.instanceId, placement)).toMatchObject({ instanceId: inst.instanceId, fingerprint: inst.fingerprint });
    const sg = row.securityGroupId;
    expect(fake.securityGroups.get(sg)?.["SecurityGroupName"]).toBe("hoist-migration");
    await p.releaseIntermediateInstance(inst.instanceId, placement);
    expect(fake.instances.has(inst.instanceId)).toBe(false);
    // Hoist's security group in the user's VPC goes; the user's VPC and vSwitch stay.
    expect(fake.securityGroups.has(sg)).toBe(false);
    expect(fake.vpcs.has(own.vpcId) && fake.vswitches.has(own.vSwitchId)).toBe(true);
    expect([...fake.disks.values()].filter((d) => d.region === "cn-shanghai")).toEqual([]);
    // A region that is not Alibaba Cloud's is refused before any call.
    const calls = fake.calls.length;
    expect(await codeOfAsync(p.createIntermediateInstance({ region: "local", label: "x", plan: plan(), inventory: inventory() }))).toBe("Alibaba.InvalidRegion");
    expect(fake.calls.length).toBe(calls);
    fake.vswitches.delete(own.vSwitchId);
    fake.vpcs.delete(own.vpcId);
  });

  it("turns each account error of seed 002 into a clear code with the fix, and creates nothing after it", async () => {
    const p = provider();
    const req = { region: "cn-hangzhou", label: "web01", plan: plan(), inventory: inventory() };
    // First, while no network exists yet (the others fail after Hoist made one, and reuse it).
    const cases: [string, string, string, RegExp][] = [
      ["CreateVpc", "Forbidden.RAM", "Alibaba.ForbiddenRAM", /AliyunVPCFullAccess/],
      ["RunInstances", "InvalidAccountStatus.NotEnoughBalance", "Alibaba.NotEnoughBalance", /100 RMB/],
      ["RunInstances", "Forbidden.RAM", "Alibaba.ForbiddenRAM", /AliyunECSFullAccess/],
      ["RunInstances", "Forbidden.Subuser", "Alibaba.ForbiddenSubuser", /Alibaba Cloud account/],
      ["RunInstances", "QuotaExceed.PostPaidInstance", "Alibaba.QuotaExceeded", /Quota Center/],
    ];
    for (const [action, apiCode, code, fix] of cases) {
      fake.inject(action, apiCode);
      const err = await p.createIntermediateInstance(req).then(
        () => null,
        (e: unknown) => e as HoistError,
      );
      expect(err?.code, apiCode).toBe(code);
      expect(`${err?.message} ${err?.fix}`, apiCode).toMatch(fix);
      expect(err?.details?.["apiCode"]).toBe(apiCode);
      expect(fake.instances.size, apiCode).toBe(0);
    }
    // The user's own instance type is used alone: out of stock is the end, with the fix.
    expect(await codeOfAsync(provider({ instanceType: "ecs.g7.large" }).createIntermediateInstance(req))).toBe("Alibaba.OutOfStock");
    // With every type of the ordered list out of stock, the user is told to pick a zone or type.
    expect(await codeOfAsync(provider({ instanceTypes: ["ecs.g7.large"] }).createIntermediateInstance(req))).toBe("Alibaba.NoInstanceTypeInStock");
    // A wrong secret never gets past the signature check.
    const wrong = createAlibabaProvider({ credentials: { accessKeyId: AK, accessKeySecret: "wrong", source: "test" }, regionId: "cn-hangzhou", endpointOverride: fake.endpoint, retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 } });
    expect(await codeOfAsync(wrong.imageExists("x", "cn-hangzhou"))).toBe("Credentials.Rejected");
    expect(fake.instances.size).toBe(0);
  });

  it("retries throttling with backoff and gives up with a retryable error when it persists", async () => {
    const p = provider();
    fake.inject("DescribeImages", "Throttling.User", { times: 2 });
    const before = fake.calls.filter((c) => c.action === "DescribeImages").length;
    expect(await p.imageExists("nothing-here", "cn-hangzhou")).toBe(false);
    expect(fake.calls.filter((c) => c.action === "DescribeImages").length - before).toBe(3);
    // As many failures as the provider makes attempts (4), so none is left over for the next test.
    fake.inject("DescribeImages", "Throttling", { times: 4 });
    const err = await p.imageExists("nothing-here", "cn-hangzhou").catch((e: unknown) => e as HoistError);
    expect(err).toMatchObject({ code: "Alibaba.Unavailable", retryable: true });
  });

  it("checks ENS's limits before anything is created", async () => {
    const p = provider({ target: { kind: "ens", ensRegionId: "cn-beijing", transitBucket: "transit" } });
    const calls = fake.calls.length;
    const limits = async (pl: TargetPlan, inv: SourceInventory, region = "cn-beijing") => {
      const q = provider({ target: { kind: "ens", ensRegionId: region, transitBucket: "transit" } });
      const e = await q.createIntermediateInstance({ region: "cn-hangzhou", label: "x", plan: pl, inventory: inv }).catch((x: unknown) => x as HoistError);
      if ((e as HoistError).code !== "Ens.LimitExceeded") return [(e as HoistError).code];
      return ((e as HoistError).details?.["problems"] as { code: string }[] | undefined)?.map((x) => x.code) ?? [];
    };
    expect(await limits(plan([10, 10, 10, 10, 10]), inventory())).toEqual(["Ens.TooManyDataDisks"]);
    expect(await limits(plan([501]), inventory())).toEqual(["Ens.DataDiskTooLarge"]);
    expect(await limits(plan([], 1100), inventory())).toEqual(["Ens.ImageTooLarge"]);
    expect(await limits(plan(), inventory("aarch64"))).toEqual(["Ens.NotX86"]);
    expect(await limits(plan(), inventory("x86_64", "windows"))).toEqual(["Ens.NotLinux"]);
    expect(await limits(plan(), inventory(), "cn-shanghai")).toEqual(["Ens.UnsupportedRegion"]);
    // None of the refused ones sent a single request.
    expect(fake.calls.length).toBe(calls);
    // One that fits goes on to check the transit bucket, which must exist ...
    expect(await limits(plan([10, 10, 10, 10]), inventory(), "ap-southeast-1")).toEqual(["Alibaba.NoSuchBucket"]);
    // ... and be in the transit region, or nothing is created.
    fake.addBucket("transit", "cn-shanghai");
    expect(await codeOfAsync(p.createIntermediateInstance({ region: "cn-hangzhou", label: "x", plan: plan(), inventory: inventory() }))).toBe("Ens.BucketRegionMismatch");
    expect(fake.instances.size).toBe(0);
  });

  // ExportImage honours ImageFormat in some regions only (qcow2 in Singapore); elsewhere it writes RAW, and the import says so.
  it.each([
    ["cn-hangzhou", "raw"],
    ["ap-southeast-1", "qcow2"],
  ])("makes an ENS image with every disk through a transit bucket in %s (%s export, seed 004), then deletes the intermediate ECS image and every exported object", async (transit, format) => {
    const bucket = `transit-ens-${format}`;
    fake.addBucket(bucket, transit);
    const p = provider({ target: { kind: "ens", ensRegionId: "cn-beijing", transitBucket: bucket } });
    const small: TargetPlan = {
      bootMode: "bios",
      lvm: false,
      disks: [
        { key: "system", sizeGiB: 1, table: "mbr", partitions: [{ key: "system-p1", role: "root", mountPoint: "/", fs: "ext4", sizeMiB: null, uuid: randomUUID() }], sourcePath: "/", usedBytes: 2 ** 20 },
        { key: "disk1", sizeGiB: 1, table: "mbr", partitions: [{ key: "disk1-p1", role: "data", mountPoint: "/data", fs: "ext4", sizeMiB: null, uuid: randomUUID() }], sourcePath: "/data", usedBytes: 2 ** 20 },
      ],
    };
    const inst = await p.createIntermediateInstance({ region: transit, label: `web01-ens-${format}`, plan: small, inventory: inventory() });
    // The receiver lays the target disks out as a migration would, and hands them over.
    const endpoint = { host: inst.host, port: inst.controlPort, fingerprint: inst.fingerprint };
    const admin = createControlClient({ ...endpoint, token: inst.adminToken, timeoutMs: 300_000 });
    const { jobId, token } = await admin.json<{ jobId: string; token: string }>("POST", "/v1/jobs", { plan: small, label: `web01-ens-${format}` });
    const job = createControlClient({ ...endpoint, token, timeoutMs: 300_000 });
    await job.json("POST", `/v1/jobs/${jobId}/prepare`, {});
    const { disks } = await job.json<{ disks: { key: string; rawPath: string; sizeBytes: number }[] }>("POST", `/v1/jobs/${jobId}/detach`, {});
    const before = fake.calls.length;
    // No boot check follows (--no-verify): the ENS image is made with the ECS image.
    await p.createImage({ name: `web01-ens-${format}`, instanceId: inst.instanceId, region: transit, disks, plan: small, inventory: inventory(), conversion: null, verify: false });
    const calls = fake.calls.slice(before);
    const actions = calls.map((c) => c.action);
    for (const [a, b] of [
      ["CreateImage", "ExportImage"],
      ["ExportImage", "ImportImage"],
      ["ImportImage", "DeleteImage"],
      ["ImportImage", "DeleteObject"],
    ] as const) {
      expect(actions.indexOf(a), `${a} before ${b}`).toBeLessThan(actions.indexOf(b));
    }
    const exported = calls.find((c) => c.action === "ExportImage")!;
    expect(exported.params).toMatchObject({ RegionId: transit, OSSBucket: bucket, ImageFormat: "qcow2" });
    const imported = calls.find((c) => c.action === "ImportImage")!;
    expect(imported.product).toBe("ens");
    expect(imported.params).toMatchObject({
      RegionId: "cn-beijing",
      ImageName: `web01-ens-${format}`,
      ComputeType: "ens_vm",
      OSType: "linux",
      Architecture: "x86_64",
      ImageFormat: format,
      OSSBucket: bucket,
      OSSRegion: transit,
      "DiskDeviceMapping.1.OSSBucket": bucket,
      "DiskDeviceMapping.1.OSSRegion": transit,
      "DiskDeviceMapping.1.TargetOSSRegionId": "cn-beijing",
      "DiskDeviceMapping.2.TargetOSSRegionId": "cn-beijing",
    });
    // The system disk first, then the data disk; the fake checked each object is really in that format.
    expect(imported.params["OSSObject"]).toMatch(new RegExp(`^${exported.params["OSSPrefix"]}.*system\\.${format}$`));
    expect(imported.params["DiskDeviceMapping.1.OSSObject"]).toBe(imported.params["OSSObject"]);
    expect(imported.params["DiskDeviceMapping.2.OSSObject"]).toMatch(new RegExp(`^${exported.params["OSSPrefix"]}.*data.*\\.${format}$`));
    expect(imported.params["DiskDeviceMapping.3.OSSObject"]).toBeUndefined();
    const ensImage = [...fake.ensImages.values()].find((i) => i["ImageName"] === `web01-ens-${format}`);
    expect(ensImage).toMatchObject({ RegionId: "cn-beijing", ImageFormat: format });
    expect(ensImage?.["disks"]).toHaveLength(2);
    expect(await p.imageExists(`web01-ens-${format}`, transit)).toBe(true);
    // The ECS image in the transit region (with its snapshots) and the exported objects (one per disk) were temporary.
    expect([...fake.images.values()].some((i) => i.name === `web01-ens-${format}`)).toBe(false);
    expect(fake.snapshots.size).toBe(0);
    expect(calls.filter((c) => c.action === "DeleteObject")).toHaveLength(2);
    expect(fake.buckets.get(bucket)?.objects.size).toBe(0);
    await admin.call("DELETE", `/v1/jobs/${jobId}`);
    await p.releaseIntermediateInstance(inst.instanceId, { region: transit });
    expect(fake.instances.has(inst.instanceId)).toBe(false);
    expect([...fake.disks.values()].filter((d) => d.name.startsWith("hoist-"))).toEqual([]);
  });

  it("migrating onto an existing instance: seed 003's checks, snapshots first, SMC_Temp_Disk, and rollback", async () => {
    const tooSmall = fake.seedInstance({ systemGiB: 20, dataGiB: [] });
    const windows = fake.seedInstance({ systemGiB: 40, dataGiB: [40], osType: "windows" });
    const check = async (id: string, pl: TargetPlan) => {
      const e = await provider({ target: { kind: "instance", instanceId: id } }).createIntermediateInstance({ region: "cn-hangzhou", label: "x", plan: pl, inventory: inventory() }).catch((x: unknown) => x as HoistError);
      expect((e as HoistError).code).toBe("Destination.Unsuitable");
      return ((e as HoistError).details?.["problems"] as { code: string }[] | undefined)?.map((x) => x.code) ?? [];
    };
    expect(await check(tooSmall, plan([40], 30))).toEqual(["Destination.TooFewDataDisks", "Destination.DiskTooSmall"]);
    expect(await check(windows, plan([20]))).toEqual(["Destination.OsMismatch"]);
    expect(fake.snapshots.size).toBe(0);

    const dest = fake.seedInstance({ systemGiB: 40, dataGiB: [30] });
    const [sysDisk, dataDisk] = [...fake.disks.values()].filter((d) => d.instanceId === dest);
    for (const [d, text] of [[sysDisk!, "original system"], [dataDisk!, "original data"]] as const) {
      const fd = openSync(d.file, "r+");
      writeSync(fd, text, 1024 * 1024);
      closeSync(fd);
    }
    const p = provider({ target: { kind: "instance", instanceId: dest, testOnly: true } });
    const inst = await p.createIntermediateInstance({ region: "cn-hangzhou", label: "web01", plan: plan([20]), inventory: inventory() });
    // The destination itself runs the receiver, after every one of its disks was snapshotted.
    expect(inst.instanceId).toBe(dest);
    expect([...fake.snapshots.values()].map((s) => s.diskId).sort()).toEqual([sysDisk!.id, dataDisk!.id].sort());
    const temp = [...fake.disks.values()].find((d) => d.name === TEMP_DISK_NAME);
    expect(temp?.instanceId).toBe(dest);
    expect(await receiverHealthy(inst.host, inst.controlPort, inst.fingerprint)).toBe(true);
    // The migration overwrites the destination's disks ...
    for (const d of [sysDisk!, dataDisk!]) {
      const fd = openSync(d.file, "r+");
      writeSync(fd, "migrated, not the original", 1024 * 1024);
      closeSync(fd);
    }
    // ... and a test-only migration (or a failed boot test) puts both back from the snapshots.
    await p.rollbackDestination();
    await fake.settled();
    const disksNow = [...fake.disks.values()].filter((d) => d.instanceId === dest && d.name !== TEMP_DISK_NAME);
    const read = (file: string, n: number) => {
      const buf = Buffer.alloc(n);
      const fd = openSync(file, "r");
      readSync(fd, buf, 0, n, 1024 * 1024);
      closeSync(fd);
      return buf.toString("utf8");
    };
    expect(read(disksNow.find((d) => d.type === "data")!.file, 13)).toBe("original data");
    expect(read(disksNow.find((d) => d.type === "system")!.file, 15)).toBe("original system");
    await p.releaseIntermediateInstance(dest);
    expect([...fake.disks.values()].some((d) => d.name === TEMP_DISK_NAME)).toBe(false);
    expect(fake.snapshots.size).toBe(0);
    expect(statSync(disksNow.find((d) => d.type === "data")!.file).size).toBe(30 * GiB);
  });
  it("acts on the destination a placement names (a TargetInstance job's) and never deletes a user's instance", async () => {
    const dest = fake.seedInstance({ systemGiB: 40, dataGiB: [] });
    const sys = [...fake.disks.values()].find((d) => d.instanceId === dest)!;
    const mark = (text?: string): string => diskMark(sys.file, text);
    mark("the user's own system");
    // A provider making images (the control plane's) releases only instances it started.
    const p = provider();
    expect(await codeOfAsync(p.releaseIntermediateInstance(dest))).toBe("IntermediateInstance.NotHoists");
    expect(fake.instances.get(dest)?.status).toBe("Running");
    expect(await codeOfAsync(p.createIntermediateInstance({ region: "cn-hangzhou", placement: { region: "cn-hangzhou", destinationInstanceId: "vm-1" }, label: "j-x", plan: plan(), inventory: inventory() }))).toBe(
      "Destination.InvalidInstanceId",
    );

    // The same provider, given the placement, prepares the destination, rolls it back and cleans up after it.
    const placement = { region: "cn-hangzhou", destinationInstanceId: dest };
    const runsBefore = fake.actions("ecs").filter((a) => a === "RunInstances").length;
    const inst = await p.createIntermediateInstance({ region: "cn-hangzhou", placement, label: "j-onto", plan: plan(), inventory: inventory() });
    expect(inst.instanceId).toBe(dest);
    expect(fake.actions("ecs").filter((a) => a === "RunInstances")).toHaveLength(runsBefore);
    expect((await p.findIntermediateInstance(dest, placement))?.fingerprint).toBe(inst.fingerprint);
    mark("changed by the migration");
    await p.rollbackDestination(placement);
    await fake.settled();
    expect(mark()).toBe("the user's own system");
    await p.releaseIntermediateInstance(dest, placement);
    expect(fake.instances.has(dest)).toBe(true);
    expect([...fake.disks.values()].some((d) => d.name === TEMP_DISK_NAME)).toBe(false);
    expect([...fake.snapshots.values()].some((x) => x.instanceId === dest)).toBe(false);
    expect(Buffer.from(fake.instances.get(dest)?.userData ?? "", "base64").toString("utf8")).not.toContain("hoist-receiver");
  });
});

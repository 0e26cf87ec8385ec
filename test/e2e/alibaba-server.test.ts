// The control plane on Alibaba Cloud: `hoist server --provider alibaba` against
// the contract fake of ECS, VPC and OSS (nothing leaves this host). A Debian 12
// source is imported with `hoist agent`; its replication job names its own
// region (cn-shanghai, not the server's cn-hangzhou), the user's VPC and
// vSwitch (NetMode 2) and an instance type. The server is killed (SIGKILL)
// while the agent copies and started again: it finds the job's intermediate
// instance in the job's region and goes on. The job ends Finished with a custom
// image (its boot check is alibaba-migrate's, the same provider call), and
// every temporary resource is gone.
// Then the same source goes onto existing instances (TargetType TargetInstance):
// a job cancelled mid-copy puts its destination back from the snapshots, and a
// job run to the end leaves its destination running the migrated system, its
// data disk holding the source's data and its own user data back in place.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AlibabaContractFake, diskMark } from "../helpers/alibaba-contract-fake";
import { FakeAlibabaAccount } from "../helpers/alibaba-fake-account";
import { writableDebianSource } from "../helpers/debian-fixture";
import { HOIST, type Job, killAll, serverApi, type Spawned, type StartedServer, startHoistServer, startServerWithSource, stop, until } from "../helpers/server-cli";

const base = mkdtempSync("/var/tmp/hoist-alibaba-server-");
const source = join(base, "source");
const account = new FakeAlibabaAccount(base, "LTAI5tHoistServerFake", "server-secret");
const credentials = join(base, "credentials");
const IMAGE = "web-shanghai";
let fake: AlibabaContractFake;
let server: StartedServer | undefined;
let agent: Spawned | undefined;
let apiKey = "";
let sourceId = "";
const { call: api, waitJob: watch } = serverApi(
  () => server,
  () => apiKey,
);

function serverArgs(): string[] {
  return [
    "--data-dir",
    join(base, "server"),
    "--provider",
    "alibaba",
    "--region",
    "cn-hangzhou",
    "--credentials-file",
    credentials,
    ...account.hoistFlags(),
    "--heartbeat-seconds",
    "1",
    "--offline-after-seconds",
    "60",
    "--log-level",
    "debug",
  ];
}
const serverEnv = { HOIST_ALIBABA_POLL_MS: "200", ALIBABA_CLOUD_ACCESS_KEY_ID: "", ALIBABA_CLOUD_ACCESS_KEY_SECRET: "" };

beforeAll(async () => {
  process.env["HOIST_BIN"] = HOIST;
  await writableDebianSource(base);
  mkdirSync(join(source, "srv/app"), { recursive: true });
  writeFileSync(join(source, "srv/app/version"), "shanghai\n");
  writeFileSync(credentials, `[default]\naccess_key_id = ${account.accessKeyId}\naccess_key_secret = ${account.accessKeySecret}\n`, { mode: 0o600 });
  fake = await account.start();
  ({ server, apiKey, agent, sourceId } = await startServerWithSource(serverArgs(), serverEnv, source, join(base, "agent")));
}, 20 * 60_000);

afterAll(async () => {
  await killAll(agent, server);
  await account.close();
});

describe("hoist server --provider alibaba (contract fake)", () => {
  it("runs a job in its own region and VPC to a custom image, through a server SIGKILL, and releases everything temporary", async () => {
    const own = fake.seedNetwork("cn-shanghai");
    const created = await api<Job>("POST", "/v1/jobs", {
      SourceId: sourceId,
      Name: "web-1 to Shanghai",
      ImageName: IMAGE,
      SystemDiskSize: 20,
      RegionId: "cn-shanghai",
      NetMode: 2,
      VpcId: own.vpcId,
      VSwitchId: own.vSwitchId,
      InstanceType: "ecs.c7.large",
      RateLimit: 40,
      // Loopback needs no compression; it would only cost CPU.
      CompressLevel: 0,
      VerifyImage: false,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.JobId;

    // The intermediate instance runs in the job's region, in the user's vSwitch, with no public address.
    const syncing = await watch(id, (j) => j.BusinessStatus === "Syncing" && (j.Transfer?.BytesDone ?? 0) > 10 * 2 ** 20, 10 * 60_000);
    const instanceId = syncing.TransitionInstanceId as string;
    const intermediate = fake.instances.get(instanceId);
    expect(intermediate).toMatchObject({ region: "cn-shanghai", name: "No_Delete_SMC_Transition_Instance", type: "ecs.c7.large", vSwitchId: own.vSwitchId, publicIp: "" });

    // SIGKILL mid-copy; the restarted server (same address: the agent knows it by it) takes the job up.
    const port = new URL(server?.url as string).port;
    await stop(server, "SIGKILL");
    const callsBefore = fake.calls.length;
    server = await startHoistServer([...serverArgs(), "--port", port], { ...serverEnv, HOIST_API_KEY: apiKey });
    expect((await api<Job>("POST", `/v1/jobs/${id}/modify`, { RateLimit: 0 })).status).toBe(200);

    const finished = await watch(id, (j) => j.Status === "Finished", 25 * 60_000);
    expect(finished.ImageId).toBe(IMAGE);
    expect(finished.Images).toEqual([expect.objectContaining({ ImageName: IMAGE, RegionId: "cn-shanghai", Verification: "skipped" })]);
    expect(finished.TransitionInstanceId).toBeNull();

    // The restarted server found the same instance in cn-shanghai: one intermediate instance was ever run.
    const after = fake.calls.slice(callsBefore);
    expect(after.some((c) => c.action === "DescribeInstances" && c.params["RegionId"] === "cn-shanghai" && (c.params["InstanceIds"] ?? "").includes(instanceId))).toBe(true);
    const runs = fake.calls.filter((c) => c.action === "RunInstances");
    expect(runs.filter((c) => c.params["InstanceName"] === "No_Delete_SMC_Transition_Instance")).toHaveLength(1);
    expect(runs[0]?.params).toMatchObject({ RegionId: "cn-shanghai", InstanceType: "ecs.c7.large", VSwitchId: own.vSwitchId, InternetMaxBandwidthOut: "0" });
    // Every call of the job went to the job's region.
    expect(fake.calls.filter((c) => c.product !== "oss" && c.params["RegionId"] !== "cn-shanghai").map((c) => c.action)).toEqual([]);
    expect(fake.signaturesVerified).toBe(fake.calls.length);

    // The custom image is in cn-shanghai, made from snapshots; no instance was run from it (no boot check was asked for).
    const image = [...fake.images.values()].find((i) => i.name === IMAGE);
    expect(image).toMatchObject({ region: "cn-shanghai", owner: "self", bootMode: "BIOS" });
    expect(runs.some((c) => c.params["ImageId"] === image?.id)).toBe(false);

    // Released: the intermediate instance, the target disks, hoist's security group. The user's VPC stays.
    expect(fake.instances.size).toBe(0);
    expect([...fake.disks.values()]).toEqual([]);
    expect([...fake.securityGroups.values()].map((g) => g["SecurityGroupName"])).toEqual([]);
    expect([...fake.vpcs.keys()]).toEqual([own.vpcId]);
    expect([...fake.vswitches.keys()]).toEqual([own.vSwitchId]);
    expect((await api<{ state: string }>("GET", `/v1/sources/${sourceId}`)).body.state).toBe("Available");

    // The AccessKey secret is in no log line and nowhere in the server's data folder.
    expect([...(server?.stderr ?? []), ...(server?.lines ?? [])].join("\n")).not.toContain(account.accessKeySecret);
    const grep = spawnSync("grep", ["-rl", "--binary-files=text", account.accessKeySecret, join(base, "server")], { encoding: "utf8" });
    expect(grep.stdout).toBe("");
  }, 40 * 60_000);
  // --- Onto existing instances (TargetType TargetInstance, seed 003's "ECS Instance" destination).

  const disksOf = (instanceId: string) => [...fake.disks.values()].filter((d) => d.instanceId === instanceId);
  const ownUserDataOf = (who: string) => Buffer.from(`#cloud-config\nruncmd:\n  - echo ${who} > /etc/motd\n`).toString("base64");
  const ontoInstance = (instanceId: string, name: string) => ({
    SourceId: sourceId,
    Name: name,
    TargetType: "TargetInstance",
    InstanceId: instanceId,
    RegionId: "cn-hangzhou",
    ImageName: name,
    SystemDiskSize: 20,
    DataDisks: [{ Index: 1, SourcePath: "/srv/data", Size: 20 }],
    CompressLevel: 0,
  });
  const hoistSnapshotsOf = (instanceId: string) => [...fake.snapshots.values()].filter((x) => x.instanceId === instanceId && x.name.startsWith("hoist-before-"));

  it("a TargetInstance job cancelled mid-copy puts its destination back from the snapshots and keeps the instance", async () => {
    mkdirSync(join(source, "srv/data"), { recursive: true });
    writeFileSync(join(source, "srv/data/orders.csv"), "id,item\n1,hoist\n");
    const dest = fake.seedInstance({ systemGiB: 20, dataGiB: [20], regionId: "cn-hangzhou" });
    const [sys, data] = ["system", "data"].map((t) => disksOf(dest).find((d) => d.type === t)!);
    diskMark(sys!.file, "the destination's own system");
    diskMark(data!.file, "the destination's own data");
    const own = ownUserDataOf("cancelled");
    fake.instances.get(dest)!.userData = own;

    const created = await api<Job>("POST", "/v1/jobs", ontoInstance(dest, "web-cancelled"));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.JobId;
    const syncing = await watch(id, (j) => j.BusinessStatus === "Syncing" && (j.Transfer?.BytesDone ?? 0) > 0, 5 * 60_000);
    // The destination itself is the job's intermediate instance: every disk was snapshotted first, SMC_Temp_Disk is attached.
    expect(syncing.TransitionInstanceId).toBe(dest);
    expect(hoistSnapshotsOf(dest).map((x) => x.diskId).sort()).toEqual([sys!.id, data!.id].sort());
    expect(disksOf(dest).map((d) => d.name)).toContain("SMC_Temp_Disk");
    // A migration under way changes the destination's disks (on ECS the receiver's work files land on its system disk).
    diskMark(sys!.file, "changed while migrating");
    diskMark(data!.file, "changed while migrating");

    const callsBefore = fake.calls.length;
    expect((await api<Job>("POST", `/v1/jobs/${id}/cancel`)).body.Status).toBe("Deleting");
    await until(`job ${id} gone`, async () => ((await api<Job>("GET", `/v1/jobs/${id}`)).status === 404 ? true : undefined), 3 * 60_000);
    await fake.settled();

    // Rolled back: both disks from their snapshots, the instance's own user data, nothing temporary left; the instance stays.
    const after = fake.calls.slice(callsBefore).filter((c) => c.product === "ecs");
    expect(after.filter((c) => c.action === "ResetDisk").map((c) => c.params["DiskId"]).sort()).toEqual([sys!.id, data!.id].sort());
    expect(after.some((c) => c.action === "DeleteInstance")).toBe(false);
    expect(fake.instances.has(dest)).toBe(true);
    expect(diskMark(sys!.file)).toBe("the destination's own system");
    expect(diskMark(data!.file)).toBe("the destination's own data");
    expect(fake.instances.get(dest)?.userData).toBe(own);
    expect(disksOf(dest).map((d) => d.name).sort()).toEqual(["data1", "system"]);
    expect(hoistSnapshotsOf(dest)).toEqual([]);
    expect((await api<{ state: string }>("GET", `/v1/sources/${sourceId}`)).body.state).toBe("Available");
  }, 10 * 60_000);

  it("a TargetInstance job runs to Finished: the destination boots the migrated system, its data disk holds the source's data, its user data is its own", async () => {
    const dest = fake.seedInstance({ systemGiB: 20, dataGiB: [20], regionId: "cn-hangzhou" });
    const originalSystem = disksOf(dest).find((d) => d.type === "system")!.id;
    const own = ownUserDataOf("finished");
    fake.instances.get(dest)!.userData = own;
    const callsBefore = fake.calls.length;

    const created = await api<Job>("POST", "/v1/jobs", ontoInstance(dest, "web-onto-instance"));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ TargetType: "TargetInstance", InstanceId: dest });
    const finished = await watch(created.body.JobId, (j) => j.Status === "Finished", 15 * 60_000);
    expect(finished).toMatchObject({ TargetType: "TargetInstance", InstanceId: dest, TransitionInstanceId: null });
    expect(finished.Images).toEqual([expect.objectContaining({ ImageName: "web-onto-instance", RegionId: "cn-hangzhou", Verification: "booted" })]);

    // No intermediate instance of Hoist's own was started and the destination was never deleted: it runs, on a new system disk.
    const calls = fake.calls.slice(callsBefore).filter((c) => c.product === "ecs");
    expect(calls.filter((c) => c.action === "RunInstances")).toEqual([]);
    expect(calls.filter((c) => c.action === "DeleteInstance")).toEqual([]);
    expect(calls.filter((c) => c.action === "ReplaceSystemDisk").map((c) => c.params["InstanceId"])).toEqual([dest]);
    expect(fake.instances.get(dest)?.status).toBe("Running");
    const disks = disksOf(dest);
    expect(disks.map((d) => d.type).sort()).toEqual(["data", "system"]);
    expect(disks.find((d) => d.type === "system")?.id).not.toBe(originalSystem);
    // The fake booted the destination's new system disk to multi-user with the data disk mounted (the job's verification).
    const console = readFileSync(join(account.cloud, "instances", dest, "console.log"), "utf8");
    expect(console).toMatch(/HOIST-VERIFY mounts=.*\/srv\/data/);

    // The data disk, written in place, holds the source's folder.
    const dataFile = disks.find((d) => d.type === "data")!.file;
    const table = JSON.parse(execFileSync("sfdisk", ["-J", dataFile], { encoding: "utf8" })) as { partitiontable: { sectorsize?: number; partitions: { start: number; size: number }[] } };
    const part = table.partitiontable.partitions[0]!;
    const sector = table.partitiontable.sectorsize ?? 512;
    const loop = execFileSync("losetup", ["--find", "--show", "--read-only", "--offset", String(part.start * sector), "--sizelimit", String(part.size * sector), dataFile], { encoding: "utf8" }).trim();
    const mnt = mkdtempSync(join(base, "dest-data-"));
    try {
      execFileSync("mount", ["-o", "ro,noload", loop, mnt]);
      try {
        expect(readFileSync(join(mnt, "orders.csv"), "utf8")).toBe(readFileSync(join(source, "srv/data/orders.csv"), "utf8"));
      } finally {
        execFileSync("umount", [mnt]);
      }
    } finally {
      spawnSync("losetup", ["-d", loop]);
    }

    // Its user data is exactly its own again; SMC_Temp_Disk and the rollback snapshots are gone.
    expect(fake.instances.get(dest)?.userData).toBe(own);
    expect([...fake.disks.values()].some((d) => d.name === "SMC_Temp_Disk")).toBe(false);
    expect(hoistSnapshotsOf(dest)).toEqual([]);
    expect([...fake.snapshots.values()].some((x) => x.name.startsWith("hoist-before-"))).toBe(false);
    expect((await api<{ state: string }>("GET", `/v1/sources/${sourceId}`)).body.state).toBe("Available");
  }, 20 * 60_000);
});

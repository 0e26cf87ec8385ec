// The Alibaba Cloud provider against the contract fake of ECS, VPC, OSS and
// ENS: what it sends (signed by the official SDK, checked by the fake), what it
// creates and releases, and how each account error of seed 002 reaches the
// user. Intermediate instances are real receivers on loopback addresses.
import { mkdtempSync, rmSync, statSync, writeFileSync, readFileSync, openSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { HoistError, type SourceInventory, type TargetPlan } from "@hoist/protocol";
import { createAlibabaProvider, type AlibabaProviderOptions, INTERMEDIATE_INSTANCE_NAME, receiverHealthy, TEMP_DISK_NAME } from "@hoist/providers";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type AlibabaContractFake, startAlibabaContractFake } from "../helpers/alibaba-contract-fake";

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

const inventory = (arch = "x86_64", id = "debian") =>
  ({ arch, os: { id, versionId: "12", prettyName: `${id} 12`, idLike: [] }, hostname: "web01" }) as unknown as SourceInventory;

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof HoistError ? e.code : `not a HoistError: ${String(e)}`;
  }
  return "no error";
}

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
});

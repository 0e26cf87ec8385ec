// The Alibaba Cloud provider: the seeds' own destinations. The intermediate
// instance is an ECS instance named No_Delete_SMC_Transition_Instance in a
// VPC, vSwitch and security group open on the migration ports (created, or the
// user's); its user data starts the receiver. Finished target disks are written
// onto cloud disks attached to it, snapshotted, and turned into a custom image
// (or onto an existing instance, or exported through OSS into ENS). Every call
// goes through the official SDK (api.ts); docs/alibaba-provider.md lists them.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ECS_INSTANCE_ID, HoistError, type ImageVerification, type SourceInventory, type TargetPlan } from "@hoist/protocol";
import { type Logger, silentLogger } from "@hoist/runtime";
import { createControlClient, fingerprintOfCertificate, generateSelfSignedCertificate } from "@hoist/transport";
import { receiverHealthy } from "../local/receiver-process";
import type { CreateImageRequest, ImageInfo, IntermediateInstance, Placement, Provider } from "../provider";
import { type AlibabaApi, createAlibabaApi, } from "./api";
import type { AlibabaCredentials } from "./credentials";
import type { RetryPolicy } from "./errors";
import { judgeConsole } from "./console";
import { type AlibabaTarget, assertDestinationFits, assertEnsLimits, type DestinationDisk } from "./targets";
import { originalUserData, parseUserData, renderUserData, USER_DATA_MAX_BYTES } from "./user-data";

export const INTERMEDIATE_INSTANCE_NAME = "No_Delete_SMC_Transition_Instance";
export const TEMP_DISK_NAME = "SMC_Temp_Disk";
/** Resources Hoist creates carry this name, so it releases only its own. */
export const HOIST_NETWORK_NAME = "hoist-migration";
/** Tried in order when the user names no instance type; the next is tried when one is out of stock. */
export const DEFAULT_INSTANCE_TYPES = ["ecs.g7.large", "ecs.g6.large", "ecs.c7.large", "ecs.c6.large", "ecs.g5.large", "ecs.sn2ne.large", "ecs.t6-c1m2.large"];
export const DEFAULT_RECEIVER_PORTS = { control: 8080, data: 8703 } as const;
const GiB = 1024 ** 3;

export interface AlibabaProviderOptions {
  credentials: AlibabaCredentials;
  regionId: string;
  /** One endpoint for every product instead of Alibaba Cloud's (a contract fake in tests). */
  endpointOverride?: string;
  target?: AlibabaTarget;
  /** "public": the intermediate instance gets a public IP; "vpc": none, the source reaches it over a private link. */
  netMode?: "public" | "vpc";
  vpcId?: string;
  vSwitchId?: string;
  zoneId?: string;
  securityGroupId?: string;
  /** The user's instance type: used alone (no fallback), as seed 003 says. */
  instanceType?: string;
  instanceTypes?: string[];
  /** The image the intermediate instance runs (default: the newest public Debian 12 image). */
  intermediateImageId?: string;
  /** Where the intermediate instance downloads hoist.mjs (default $HOIST_BUNDLE_URL). */
  receiverBundleUrl?: string;
  receiverPorts?: { control: number; data: number };
  /** Who may reach the migration ports (default 0.0.0.0/0, as SMC opens them). */
  sourceCidr?: string;
  pollIntervalMs?: number;
  /** How long a resource may take to become ready (default 15 minutes). */
  waitTimeoutMs?: number;
  retry?: RetryPolicy;
  sleep?: (ms: number) => Promise<void>;
  logger?: Logger;
}

interface Network {
  vpcId: string;
  vSwitchId: string;
  zoneId: string;
  securityGroupId: string;
}

type Row = Record<string, unknown>;
const list = (v: unknown, key: string): Row[] => {
  const inner = (v as Row | undefined)?.[key];
  return Array.isArray(inner) ? (inner as Row[]) : [];
};
const str = (v: unknown): string => (typeof v === "string" ? v : v === undefined || v === null ? "" : String(v));

export type AlibabaProvider = Provider & {
  readonly target: AlibabaTarget;
  readonly api: AlibabaApi;
  /**
   * Puts an existing destination instance's disks back as they were before the migration (seed 003's
   * rollback): the configured one, or the one a placement names (a TargetInstance job's).
   */
  rollbackDestination(placement?: Placement): Promise<void>;
};

/** Region ids as Alibaba Cloud writes them (cn-hangzhou, ap-southeast-1, cn-shanghai-finance-1). */
const REGION_ID = /^[a-z]{2,}(-[a-z0-9]+){1,3}$/;

/**
 * The options one migration's placement makes: its region, network and instance type over the
 * configured ones, and its destination instance (a TargetInstance job's) as the target. In another
 * region the configured network (its VPC, vSwitch, zone and security group are in the configured
 * region) does not apply.
 */
function placedOptions(options: AlibabaProviderOptions, placement: Placement | undefined): AlibabaProviderOptions {
  if (!placement) return options;
  const region = placement.region;
  if (!REGION_ID.test(region)) {
    throw new HoistError("Alibaba.InvalidRegion", `${JSON.stringify(region.slice(0, 64))} is not an Alibaba Cloud region id`, {
      fix: "Use a region id such as cn-hangzhou or ap-southeast-1 (RegionId of the job, or region_id).",
    });
  }
  const { vpcId, vSwitchId, zoneId, securityGroupId, netMode, instanceType, ...rest } = options;
  const network =
    placement.vpcId || placement.vSwitchId
      ? { vpcId: placement.vpcId, vSwitchId: placement.vSwitchId }
      : region === options.regionId
        ? { vpcId, vSwitchId, zoneId, securityGroupId }
        : {};
  const fields = { ...network, netMode: placement.netMode ?? netMode, instanceType: placement.instanceType ?? instanceType };
  const destination = placement.destinationInstanceId;
  if (destination !== undefined && !ECS_INSTANCE_ID.test(destination)) {
    throw new HoistError("Destination.InvalidInstanceId", `${JSON.stringify(destination.slice(0, 64))} is not an ECS instance id`, { fix: "Name the destination by its ECS instance id, such as i-bp1abcd2efgh3ijk4lmn." });
  }
  return {
    ...rest,
    regionId: region,
    ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)),
    ...(destination ? { target: { kind: "instance" as const, instanceId: destination } } : {}),
  };
}

function placementKey(o: AlibabaProviderOptions): string {
  const target = o.target ?? { kind: "image" };
  return JSON.stringify([o.regionId, o.netMode ?? "public", o.vpcId ?? "", o.vSwitchId ?? "", o.zoneId ?? "", o.securityGroupId ?? "", o.instanceType ?? "", target]);
}

/**
 * The objects an image export wrote, in disk order: the one named for the system disk, then the
 * data disks by the number in their names.
 */
export function ensDiskObjects(objects: readonly string[]): string[] {
  const number = (o: string) => Number(/data[_-]?(?:disk[_-]?)?(\d+)/i.exec(o.slice(o.lastIndexOf("/") + 1))?.[1] ?? Number.MAX_SAFE_INTEGER);
  const system = objects.filter((o) => /system/i.test(o.slice(o.lastIndexOf("/") + 1)));
  const data = objects.filter((o) => !system.includes(o)).sort((a, b) => number(a) - number(b) || a.localeCompare(b));
  return [...system.slice(0, 1), ...data];
}

/**
 * The Alibaba Cloud provider. It acts where its options say, and where a call's placement says
 * when the call carries one: the control plane runs jobs in many regions and networks through one
 * provider, which keeps one regional provider per distinct placement (region, network mode, VPC,
 * vSwitch, instance type) and sends each call to the one of the job it is for.
 */
export function createAlibabaProvider(options: AlibabaProviderOptions): AlibabaProvider {
  const regional = new Map<string, AlibabaProvider>();
  const at = (placement?: Placement): AlibabaProvider => {
    const o = placedOptions(options, placement);
    const key = placementKey(o);
    let p = regional.get(key);
    if (!p) {
      p = createRegionalProvider(o);
      regional.set(key, p);
    }
    return p;
  };
  const home = at();
  return {
    name: "alibaba",
    migratesOntoInstances: true,
    target: home.target,
    api: home.api,
    rollbackDestination: async (placement) => at(placement).rollbackDestination(),
    createIntermediateInstance: async (request) => at(request.placement ?? { region: request.region }).createIntermediateInstance(request),
    findIntermediateInstance: async (instanceId, placement) => at(placement).findIntermediateInstance(instanceId),
    releaseIntermediateInstance: async (instanceId, placement) => at(placement).releaseIntermediateInstance(instanceId),
    imageExists: async (name, region) => at({ region }).imageExists(name, region),
    createImage: async (request) => at(request.placement ?? { region: request.region }).createImage(request),
    verifyImage: async (name, region, opts) => at(opts?.placement ?? { region }).verifyImage(name, region, opts),
    listImages: async (region) => at(region ? { region } : undefined).listImages(region),
    deleteImage: async (name, region) => at({ region }).deleteImage(name, region),
  };
}

/** One region, one network: every call acts in options.regionId. */
function createRegionalProvider(options: AlibabaProviderOptions): AlibabaProvider {
  const log = options.logger ?? silentLogger;
  const region = options.regionId;
  const target: AlibabaTarget = options.target ?? { kind: "image" };
  const ports = options.receiverPorts ?? DEFAULT_RECEIVER_PORTS;
  const poll = options.pollIntervalMs ?? 5000;
  const waitTimeout = options.waitTimeoutMs ?? 15 * 60_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const api = createAlibabaApi({
    credentials: options.credentials,
    regionId: region,
    ...(options.endpointOverride ? { endpointOverride: options.endpointOverride } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
    logger: log,
  });
  const ecs = (action: string, params: Row = {}) => api.rpc("ecs", action, params);
  const vpc = (action: string, params: Row = {}) => api.rpc("vpc", action, params);
  /** ENS verifications done in this process (an ENS image has no tags to keep them). */
  const ensVerified = new Map<string, ImageVerification>();

  async function waitFor<T>(what: string, probe: () => Promise<T | null>): Promise<T> {
    const deadline = Date.now() + waitTimeout;
    for (;;) {
      const value = await probe();
      if (value !== null) return value;
      if (Date.now() > deadline) throw new HoistError("Alibaba.Timeout", `${what} did not happen within ${Math.round(waitTimeout / 1000)} s`, { retryable: true, fix: "Run again; what was created is reused." });
      await sleep(poll);
    }
  }

  async function describeInstance(instanceId: string): Promise<Row | null> {
    const body = await ecs("DescribeInstances", { InstanceIds: JSON.stringify([instanceId]) });
    return list(body["Instances"], "Instance")[0] ?? null;
  }

  async function waitInstanceStatus(instanceId: string, status: string): Promise<Row> {
    return waitFor(`instance ${instanceId} becoming ${status}`, async () => {
      const i = await describeInstance(instanceId);
      if (!i) throw new HoistError("IntermediateInstance.Released", `instance ${instanceId} no longer exists`, { fix: "Run hoist migrate again; a released intermediate instance is replaced." });
      return str(i["Status"]) === status ? i : null;
    });
  }

  async function describeDisks(params: Row): Promise<Row[]> {
    return list((await ecs("DescribeDisks", { PageSize: 100, ...params }))["Disks"], "Disk");
  }

  async function waitDisk(diskId: string, status: string): Promise<Row> {
    return waitFor(`disk ${diskId} becoming ${status}`, async () => {
      const d = (await describeDisks({ DiskIds: JSON.stringify([diskId]) }))[0];
      return d && str(d["Status"]) === status ? d : null;
    });
  }

  async function snapshot(diskId: string, name: string, tags: Row[] = []): Promise<string> {
    const body = await ecs("CreateSnapshot", { DiskId: diskId, SnapshotName: name, Tag: tags });
    const id = str(body["SnapshotId"]);
    await waitFor(`snapshot ${id} of ${diskId}`, async () => {
      const s = list((await ecs("DescribeSnapshots", { SnapshotIds: JSON.stringify([id]) }))["Snapshots"], "Snapshot")[0];
      if (s && str(s["Status"]) === "failed") throw new HoistError("Alibaba.SnapshotFailed", `snapshot ${id} of disk ${diskId} failed`, { retryable: true });
      return s && str(s["Status"]) === "accomplished" ? s : null;
    });
    return id;
  }

  async function findImage(name: string): Promise<Row | null> {
    const body = await ecs("DescribeImages", { ImageName: name, ImageOwnerAlias: "self", PageSize: 100 });
    return list(body["Images"], "Image").find((i) => str(i["ImageName"]) === name) ?? null;
  }

  // --- network: the user's, or one Hoist creates and names, so that it releases only its own.
  async function ensureNetwork(): Promise<Network> {
    let vpcId = options.vpcId ?? "";
    let zoneId = options.zoneId ?? "";
    let vSwitchId = options.vSwitchId ?? "";
    if (vSwitchId) {
      const sw = list((await vpc("DescribeVSwitches", { VSwitchId: vSwitchId }))["VSwitches"], "VSwitch")[0];
      if (!sw) throw new HoistError("Alibaba.VSwitchNotFound", `vSwitch ${vSwitchId} does not exist in ${region}`, { fix: "Check --vswitchid and --regionid, or leave them out to let Hoist create a network." });
      vpcId = str(sw["VpcId"]);
      zoneId = str(sw["ZoneId"]);
    }
    if (!vpcId) {
      const found = list((await vpc("DescribeVpcs", { VpcName: HOIST_NETWORK_NAME, PageSize: 50 }))["Vpcs"], "Vpc")[0];
      if (found) vpcId = str(found["VpcId"]);
      else {
        const created = await vpc("CreateVpc", { VpcName: HOIST_NETWORK_NAME, CidrBlock: "192.168.0.0/16", Description: "Hoist migration network (released after a successful migration)" });
        vpcId = str(created["VpcId"]);
        log.info("created VPC", { vpcId });
      }
      await waitFor(`VPC ${vpcId} becoming available`, async () => {
        const v = list((await vpc("DescribeVpcs", { VpcId: vpcId }))["Vpcs"], "Vpc")[0];
        return v && str(v["Status"]) === "Available" ? v : null;
      });
    }
    if (!zoneId) {
      const zones = list((await ecs("DescribeZones", { InstanceChargeType: "PostPaid" }))["Zones"], "Zone");
      zoneId = str(zones[0]?.["ZoneId"]);
      if (!zoneId) throw new HoistError("Alibaba.NoZone", `region ${region} offers no zone for pay-as-you-go instances`, { fix: "Choose another region or give --zoneid." });
    }
    if (!vSwitchId) {
      const existing = list((await vpc("DescribeVSwitches", { VpcId: vpcId, ZoneId: zoneId, PageSize: 50 }))["VSwitches"], "VSwitch");
      const ours = existing.find((s) => str(s["VSwitchName"]) === HOIST_NETWORK_NAME) ?? (options.vpcId ? existing[0] : undefined);
      if (ours) vSwitchId = str(ours["VSwitchId"]);
      else {
        const created = await vpc("CreateVSwitch", { VpcId: vpcId, ZoneId: zoneId, CidrBlock: "192.168.88.0/24", VSwitchName: HOIST_NETWORK_NAME });
        vSwitchId = str(created["VSwitchId"]);
        log.info("created vSwitch", { vSwitchId, zoneId });
      }
      await waitFor(`vSwitch ${vSwitchId} becoming available`, async () => {
        const s = list((await vpc("DescribeVSwitches", { VSwitchId: vSwitchId }))["VSwitches"], "VSwitch")[0];
        return s && str(s["Status"]) === "Available" ? s : null;
      });
    }
    let securityGroupId = options.securityGroupId ?? "";
    if (!securityGroupId) {
      const found = list((await ecs("DescribeSecurityGroups", { VpcId: vpcId, SecurityGroupName: HOIST_NETWORK_NAME, PageSize: 50 }))["SecurityGroups"], "SecurityGroup")[0];
      securityGroupId = found
        ? str(found["SecurityGroupId"])
        : str((await ecs("CreateSecurityGroup", { VpcId: vpcId, SecurityGroupName: HOIST_NETWORK_NAME, SecurityGroupType: "normal", Description: "Hoist migration: receiver control and data ports" }))["SecurityGroupId"]);
    }
    // Authorizing a rule that exists already changes nothing, so this is safe on every run (and on the user's group).
    for (const [port, what] of [
      [ports.control, "Hoist receiver control API"],
      [ports.data, "Hoist receiver data port"],
    ] as const) {
      await ecs("AuthorizeSecurityGroup", { SecurityGroupId: securityGroupId, IpProtocol: "tcp", PortRange: `${port}/${port}`, SourceCidrIp: options.sourceCidr ?? "0.0.0.0/0", Policy: "accept", Description: what });
    }
    return { vpcId, vSwitchId, zoneId, securityGroupId };
  }

  /**
   * Releases what ensureNetwork made, once no instance uses it: Hoist's own VPC with its vSwitch and
   * security group, or in the user's VPC only the security group Hoist added there. The user's own
   * VPC, vSwitch and security group stay.
   */
  async function releaseNetwork(): Promise<void> {
    if (options.vSwitchId || options.vpcId) {
      if (options.securityGroupId) return;
      const vpcId =
        options.vpcId ?? str(list((await vpc("DescribeVSwitches", { VSwitchId: options.vSwitchId }))["VSwitches"], "VSwitch")[0]?.["VpcId"]);
      if (!vpcId) return;
      for (const sg of list((await ecs("DescribeSecurityGroups", { VpcId: vpcId, SecurityGroupName: HOIST_NETWORK_NAME, PageSize: 50 }))["SecurityGroups"], "SecurityGroup")) {
        const securityGroupId = str(sg["SecurityGroupId"]);
        const users = list((await ecs("DescribeInstances", { SecurityGroupId: securityGroupId, PageSize: 100 }))["Instances"], "Instance");
        if (users.length > 0) continue;
        await ecs("DeleteSecurityGroup", { SecurityGroupId: securityGroupId });
        log.info("released the migration security group in your VPC", { vpcId, securityGroupId });
      }
      return;
    }
    const v = list((await vpc("DescribeVpcs", { VpcName: HOIST_NETWORK_NAME, PageSize: 50 }))["Vpcs"], "Vpc")[0];
    if (!v) return;
    const vpcId = str(v["VpcId"]);
    const left = list((await ecs("DescribeInstances", { VpcId: vpcId, PageSize: 100 }))["Instances"], "Instance");
    if (left.length > 0) return;
    if (!options.securityGroupId) {
      for (const sg of list((await ecs("DescribeSecurityGroups", { VpcId: vpcId, SecurityGroupName: HOIST_NETWORK_NAME, PageSize: 50 }))["SecurityGroups"], "SecurityGroup")) {
        await ecs("DeleteSecurityGroup", { SecurityGroupId: str(sg["SecurityGroupId"]) });
      }
    }
    for (const sw of list((await vpc("DescribeVSwitches", { VpcId: vpcId, PageSize: 50 }))["VSwitches"], "VSwitch")) {
      if (str(sw["VSwitchName"]) === HOIST_NETWORK_NAME) await vpc("DeleteVSwitch", { VSwitchId: str(sw["VSwitchId"]) });
    }
    await waitFor("the vSwitches to go", async () => (list((await vpc("DescribeVSwitches", { VpcId: vpcId }))["VSwitches"], "VSwitch").length === 0 ? true : null));
    await vpc("DeleteVpc", { VpcId: vpcId });
    log.info("released the migration network", { vpcId });
  }

  async function intermediateImage(): Promise<string> {
    if (options.intermediateImageId) return options.intermediateImageId;
    const images = list(
      (await ecs("DescribeImages", { ImageOwnerAlias: "system", OSType: "linux", Architecture: "x86_64", ImageName: "debian_12*", Status: "Available", PageSize: 100 }))["Images"],
      "Image",
    );
    const newest = images.sort((a, b) => str(b["CreationTime"]).localeCompare(str(a["CreationTime"])))[0];
    if (!newest) throw new HoistError("Alibaba.NoIntermediateImage", `region ${region} has no public Debian 12 image for the intermediate instance`, { fix: "Give an image ID for the intermediate instance." });
    return str(newest["ImageId"]);
  }

  function bundleUrl(): string {
    const url = options.receiverBundleUrl ?? process.env["HOIST_BUNDLE_URL"];
    if (!url) {
      throw new HoistError("Alibaba.NoReceiverBundle", "the intermediate instance needs a URL to download hoist.mjs from", {
        fix: "Put apps/hoist/dist/hoist.mjs where the instance can fetch it (an OSS object with a signed URL, a web server) and set HOIST_BUNDLE_URL.",
      });
    }
    return url;
  }

  /** A receiver identity made here, so its fingerprint is known before the instance boots. */
  async function newReceiverIdentity(): Promise<{ certPem: string; keyPem: string; adminToken: string }> {
    const dir = mkdtempSync(join(tmpdir(), "hoist-alibaba-cert-"));
    try {
      const files = await generateSelfSignedCertificate(dir, "hoist-intermediate-instance");
      return { certPem: readFileSync(files.certPath, "utf8"), keyPem: readFileSync(files.keyPath, "utf8"), adminToken: randomBytes(32).toString("hex") };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  function address(instance: Row): string {
    if ((options.netMode ?? "public") === "vpc") return str(list((instance["VpcAttributes"] as Row | undefined)?.["PrivateIpAddress"], "IpAddress")[0]);
    const eip = str((instance["EipAddress"] as Row | undefined)?.["IpAddress"]);
    return eip || str(list(instance["PublicIpAddress"], "IpAddress")[0]);
  }

  async function connect(instanceId: string, instance: Row): Promise<IntermediateInstance> {
    const raw = str((await ecs("DescribeUserData", { InstanceId: instanceId }))["UserData"]);
    const boot = parseUserData(Buffer.from(raw, "base64").toString("utf8"));
    const host = address(instance);
    if (!host) throw new HoistError("IntermediateInstance.NoAddress", `instance ${instanceId} has no ${options.netMode === "vpc" ? "private" : "public"} IP address`, { fix: "In public mode the instance needs a public IP or an EIP." });
    const fingerprint = fingerprintOfCertificate(boot.certPem);
    await waitFor(`the receiver on ${instanceId} answering`, async () => ((await receiverHealthy(host, boot.controlPort, fingerprint, 5000)) ? true : null));
    return { provider: "alibaba", instanceId, host, controlPort: boot.controlPort, dataPort: boot.dataPort, fingerprint, adminToken: boot.adminToken };
  }

  /** The intermediate instance tagged with this label, if one is there. */
  async function labelledInstance(label: string): Promise<Row | null> {
    const body = await ecs("DescribeInstances", { InstanceName: INTERMEDIATE_INSTANCE_NAME, Tag: [{ Key: "hoist:label", Value: label }], PageSize: 100 });
    return (
      list(body["Instances"], "Instance").find(
        (i) => str(i["InstanceName"]) === INTERMEDIATE_INSTANCE_NAME && list(i["Tags"], "Tag").some((t) => str(t["TagKey"] ?? t["Key"]) === "hoist:label" && str(t["TagValue"] ?? t["Value"]) === label),
      ) ?? null
    );
  }

  async function runIntermediate(label: string, plan: TargetPlan | undefined): Promise<string> {
    const net = await ensureNetwork();
    const imageId = await intermediateImage();
    const identity = await newReceiverIdentity();
    const userData = Buffer.from(renderUserData({ ...identity, controlPort: ports.control, dataPort: ports.data, bundleUrl: bundleUrl() })).toString("base64");
    // Room for the sparse target disk files: what the source uses, with slack.
    const used = plan ? plan.disks.reduce((n, d) => n + d.usedBytes, 0) : 0;
    const systemGiB = Math.min(2048, Math.max(40, Math.ceil((used * 1.3) / GiB) + 20));
    const types = options.instanceType ? [options.instanceType] : (options.instanceTypes ?? DEFAULT_INSTANCE_TYPES);
    for (const type of types) {
      try {
        const body = await ecs("RunInstances", {
          ZoneId: net.zoneId,
          ImageId: imageId,
          InstanceType: type,
          SecurityGroupId: net.securityGroupId,
          VSwitchId: net.vSwitchId,
          InstanceName: INTERMEDIATE_INSTANCE_NAME,
          Description: `Hoist intermediate instance for ${label}; released when the migration succeeds`,
          InstanceChargeType: "PostPaid",
          InternetChargeType: "PayByTraffic",
          InternetMaxBandwidthOut: (options.netMode ?? "public") === "public" ? 100 : 0,
          SystemDisk: { Category: "cloud_essd", Size: systemGiB },
          UserData: userData,
          Amount: 1,
          ClientToken: randomBytes(16).toString("hex"),
          Tag: [{ Key: "hoist:label", Value: label }],
        });
        const id = str(list(body["InstanceIdSets"], "InstanceIdSet")[0]);
        log.info("intermediate instance created", { instanceId: id, instanceType: type, zoneId: net.zoneId });
        return id;
      } catch (e) {
        if (!(e instanceof HoistError) || e.code !== "Alibaba.OutOfStock" || options.instanceType) throw e;
        log.warn("instance type out of stock; trying the next", { instanceType: type, zoneId: net.zoneId });
      }
    }
    throw new HoistError("Alibaba.NoInstanceTypeInStock", `none of the instance types ${types.join(", ")} is in stock in ${net.zoneId}`, {
      fix: "Choose another zone (--zoneid) or name an instance type that is in stock, then run again.",
      retryable: true,
    });
  }

  // --- existing instance target (seed 003)
  async function destinationDisks(instanceId: string): Promise<DestinationDisk[]> {
    const disks = await describeDisks({ InstanceId: instanceId });
    return disks
      .filter((d) => str(d["DiskName"]) !== TEMP_DISK_NAME)
      .map((d) => ({ diskId: str(d["DiskId"]), type: str(d["Type"]) === "system" ? ("system" as const) : ("data" as const), sizeGiB: Number(d["Size"]), device: str(d["Device"]) }))
      .sort((a, b) => (a.type === b.type ? a.device.localeCompare(b.device) : a.type === "system" ? -1 : 1));
  }

  async function rollbackSnapshots(instanceId: string): Promise<Row[]> {
    return list((await ecs("DescribeSnapshots", { InstanceId: instanceId, PageSize: 100 }))["Snapshots"], "Snapshot").filter((s) => str(s["SnapshotName"]).startsWith("hoist-before-"));
  }

  async function prepareDestination(instanceId: string, label: string, plan: TargetPlan | undefined): Promise<IntermediateInstance> {
    const inst = await describeInstance(instanceId);
    if (!inst) throw new HoistError("Destination.NotFound", `instance ${instanceId} does not exist in ${region}`, { fix: "Check the destination instance ID and the region." });
    const disks = await destinationDisks(instanceId);
    if (!plan) throw new HoistError("Destination.NoPlan", "migrating onto an existing instance needs the target plan to check it first");
    assertDestinationFits({ instanceId, osType: str(inst["OSType"]), disks }, plan);
    // The destination's own user data rides in Hoist's script (a rerun finds it there) and is put back when the migration ends.
    const current = str((await ecs("DescribeUserData", { InstanceId: instanceId }))["UserData"]);
    const original = originalUserData(Buffer.from(current, "base64").toString("utf8")) ?? current;
    const identity = await newReceiverIdentity();
    const script = renderUserData({ ...identity, controlPort: ports.control, dataPort: ports.data, bundleUrl: bundleUrl() }, original);
    const scriptBytes = Buffer.byteLength(script, "utf8");
    if (scriptBytes > USER_DATA_MAX_BYTES) {
      throw new HoistError(
        "Destination.UserDataTooLarge",
        `instance ${instanceId}'s own user data (${Buffer.from(original, "base64").length} bytes) and Hoist's receiver script together take ${scriptBytes} bytes, more than ECS's ${USER_DATA_MAX_BYTES}-byte limit; nothing was changed`,
        { fix: "Keep a copy of the instance's user data, shorten it (or clear it) with ModifyInstanceAttribute, run hoist migrate again, and set it back after the migration." },
      );
    }
    // Snapshots of every disk first, so a failed or test-only migration can be rolled back.
    const have = await rollbackSnapshots(instanceId);
    for (const d of disks) {
      if (have.some((s) => str(s["SourceDiskId"]) === d.diskId)) continue;
      await snapshot(d.diskId, `hoist-before-${d.type}-${d.diskId}`, [{ Key: "hoist:rollback", Value: instanceId }]);
    }
    if (str(inst["Status"]) !== "Stopped") {
      await ecs("StopInstance", { InstanceId: instanceId });
      await waitInstanceStatus(instanceId, "Stopped");
    }
    await tempDisk(instanceId, str(inst["ZoneId"]), plan.disks.find((d) => d.key === "system")?.sizeGiB ?? 20);
    await ecs("ModifyInstanceAttribute", { InstanceId: instanceId, UserData: Buffer.from(script, "utf8").toString("base64") });
    await ecs("StartInstance", { InstanceId: instanceId });
    const running = await waitInstanceStatus(instanceId, "Running");
    log.info("destination instance runs the receiver", { instanceId, label });
    return connect(instanceId, running);
  }

  /** The destination's SMC_Temp_Disk, which receives the new system disk: the one attached, or a new one. */
  async function tempDisk(instanceId: string, zoneId: string, sizeGiB: number): Promise<Row> {
    const attached = (await describeDisks({ InstanceId: instanceId, DiskName: TEMP_DISK_NAME }))[0];
    if (attached) return attached;
    const created = await ecs("CreateDisk", { ZoneId: zoneId, DiskName: TEMP_DISK_NAME, Size: Math.max(20, sizeGiB), DiskCategory: "cloud_essd", Description: "Hoist temporary disk: the new system disk is written here, then made an image" });
    const diskId = str(created["DiskId"]);
    await waitDisk(diskId, "Available");
    await ecs("AttachDisk", { InstanceId: instanceId, DiskId: diskId, DeleteWithInstance: false });
    return waitDisk(diskId, "In_use");
  }

  async function dropTempDisks(instanceId: string): Promise<void> {
    for (const d of await describeDisks({ InstanceId: instanceId, DiskName: TEMP_DISK_NAME })) {
      const diskId = str(d["DiskId"]);
      await ecs("DetachDisk", { InstanceId: instanceId, DiskId: diskId });
      await waitDisk(diskId, "Available");
      await ecs("DeleteDisk", { DiskId: diskId });
    }
  }

  /**
   * Puts the destination's own user data back in place of Hoist's script (which holds the receiver's key
   * and admin token). ECS changes user data only on a stopped instance: it is stopped for that, and
   * started again afterwards when `restart` says so and it was running.
   */
  async function restoreUserData(instanceId: string, restart = false): Promise<void> {
    const inst = await describeInstance(instanceId);
    if (!inst) return;
    const current = str((await ecs("DescribeUserData", { InstanceId: instanceId }))["UserData"]);
    const original = originalUserData(Buffer.from(current, "base64").toString("utf8"));
    if (original === null) return;
    const wasRunning = str(inst["Status"]) !== "Stopped";
    if (wasRunning) {
      await ecs("StopInstance", { InstanceId: instanceId });
      await waitInstanceStatus(instanceId, "Stopped");
    }
    await ecs("ModifyInstanceAttribute", { InstanceId: instanceId, UserData: original });
    log.info("the destination's own user data is back in place of the receiver's", { instanceId });
    if (restart && wasRunning) {
      await ecs("StartInstance", { InstanceId: instanceId });
      await waitInstanceStatus(instanceId, "Running");
    }
  }

  async function rollbackDestination(): Promise<void> {
    if (target.kind !== "instance") return;
    const id = target.instanceId;
    if (!(await describeInstance(id))) {
      log.warn("the destination instance no longer exists: nothing to roll back", { instanceId: id });
      return;
    }
    await restoreUserData(id);
    const snaps = await rollbackSnapshots(id);
    if (snaps.length === 0) return;
    const inst = await describeInstance(id);
    if (inst && str(inst["Status"]) !== "Stopped") {
      await ecs("StopInstance", { InstanceId: id });
      await waitInstanceStatus(id, "Stopped");
    }
    const disks = await destinationDisks(id);
    for (const s of snaps) {
      const sourceDiskId = str(s["SourceDiskId"]);
      const replaced = (str(s["SourceDiskType"]) === "system" || str(s["SnapshotName"]).startsWith("hoist-before-system-")) && disks.find((d) => d.type === "system")?.diskId !== sourceDiskId;
      if (replaced) {
        // The system disk was replaced (its ID changed): put the old one back through an image of its snapshot.
        const name = `hoist-rollback-${id}`;
        const existing = await findImage(name);
        const imageId = existing ? str(existing["ImageId"]) : str((await ecs("CreateImage", { ImageName: name, SnapshotId: str(s["SnapshotId"]), Architecture: "x86_64" }))["ImageId"]);
        await waitImage(imageId);
        await ecs("ReplaceSystemDisk", { InstanceId: id, ImageId: imageId });
        await ecs("DeleteImage", { ImageId: imageId, Force: true });
      } else {
        await ecs("ResetDisk", { DiskId: sourceDiskId, SnapshotId: str(s["SnapshotId"]) });
      }
    }
    log.info("destination instance rolled back to its snapshots", { instanceId: id });
  }

  async function waitImage(imageId: string): Promise<Row> {
    return waitFor(`image ${imageId} becoming available`, async () => {
      const i = list((await ecs("DescribeImages", { ImageId: imageId, ImageOwnerAlias: "self" }))["Images"], "Image")[0];
      if (i && str(i["Status"]) === "CreateFailed") throw new HoistError("Alibaba.ImageFailed", `image ${imageId} could not be created`, { retryable: true });
      return i && str(i["Status"]) === "Available" ? i : null;
    });
  }

  // --- target disks: written onto cloud disks attached to the intermediate instance, then snapshotted.
  async function cloudDiskFor(instanceId: string, zoneId: string, key: string, sizeBytes: number): Promise<Row> {
    const sizeGiB = Math.max(20, Math.ceil(sizeBytes / GiB));
    const name = `hoist-${key}`;
    let disk = (await describeDisks({ InstanceId: instanceId, DiskName: name }))[0];
    if (!disk) {
      const created = await ecs("CreateDisk", { ZoneId: zoneId, DiskName: name, Size: sizeGiB, DiskCategory: "cloud_essd", Description: `Hoist target disk ${key}` });
      const diskId = str(created["DiskId"]);
      await waitDisk(diskId, "Available");
      await ecs("AttachDisk", { InstanceId: instanceId, DiskId: diskId, DeleteWithInstance: true });
      disk = await waitDisk(diskId, "In_use");
    } else if (Number(disk["Size"]) < sizeGiB) {
      disk = await scaleOut(disk, sizeGiB);
    }
    return disk;
  }

  /** Seed 000 (v1.5.1.5): a target disk that turns out too small is grown, not failed. */
  async function scaleOut(disk: Row, sizeGiB: number): Promise<Row> {
    const diskId = str(disk["DiskId"]);
    log.info("scaling out a target disk", { diskId, fromGiB: Number(disk["Size"]), toGiB: sizeGiB });
    await ecs("ResizeDisk", { DiskId: diskId, NewSize: sizeGiB, Type: "online" });
    return waitFor(`disk ${diskId} growing to ${sizeGiB} GiB`, async () => {
      const d = (await describeDisks({ DiskIds: JSON.stringify([diskId]) }))[0];
      return d && Number(d["Size"]) >= sizeGiB && str(d["Status"]) === "In_use" ? d : null;
    });
  }

  async function writeOnto(instance: IntermediateInstance, rawPath: string, disk: Row, sizeBytes: number): Promise<void> {
    const admin = createControlClient({ host: instance.host, port: instance.controlPort, fingerprint: instance.fingerprint, token: instance.adminToken, timeoutMs: 6 * 3600_000 });
    let current = disk;
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await admin.call("POST", "/v1/disks/write", { source: rawPath, device: str(current["Device"]) });
      if (res.status < 300) return;
      const body = (res.body ?? {}) as { code?: string; message?: string };
      if (body.code === "Receiver.DeviceTooSmall" && attempt === 0) {
        current = await scaleOut(current, Math.ceil(sizeBytes / GiB) + 1);
        continue;
      }
      throw new HoistError(body.code ?? "Receiver.WriteFailed", `writing ${rawPath} onto ${str(current["DiskId"])} failed: ${body.message ?? res.status}`, { retryable: true });
    }
  }

  async function instanceFor(instanceId: string | undefined): Promise<{ instance: IntermediateInstance; row: Row }> {
    const id = instanceId ?? (target.kind === "instance" ? target.instanceId : "");
    if (!id) throw new HoistError("Provider.NoIntermediateInstance", "the Alibaba provider makes images from disks on an intermediate instance; name it in the request");
    const row = await describeInstance(id);
    if (!row) throw new HoistError("IntermediateInstance.Released", `intermediate instance ${id} no longer exists`, { fix: "Run hoist migrate again; it starts a new intermediate instance and copies again." });
    return { instance: await connect(id, row), row };
  }

  function imageTags(request: CreateImageRequest): Row[] {
    const mounts = request.plan.disks.flatMap((d) => d.partitions.map((p) => p.mountPoint)).join(",");
    return [
      { Key: "hoist:managed", Value: "true" },
      { Key: "hoist:disks", Value: request.disks.map((d) => d.key).join(",") },
      { Key: "hoist:mounts", Value: mounts },
    ];
  }

  async function makeEcsImage(request: CreateImageRequest): Promise<{ imageId: string; row: Row }> {
    const { instance, row } = await instanceFor(request.instanceId);
    const zoneId = str(row["ZoneId"]);
    const mappings: Row[] = [];
    const ordered = [...request.disks].sort((a, b) => (a.key === "system" ? -1 : b.key === "system" ? 1 : a.key.localeCompare(b.key, "en", { numeric: true })));
    for (const [i, d] of ordered.entries()) {
      const disk = await cloudDiskFor(instance.instanceId, zoneId, d.key, d.sizeBytes);
      await writeOnto(instance, d.rawPath, disk, d.sizeBytes);
      const snapshotId = await snapshot(str(disk["DiskId"]), `hoist-${request.name}-${d.key}`);
      mappings.push({ SnapshotId: snapshotId, Size: Math.max(20, Math.ceil(d.sizeBytes / GiB)), DiskType: d.key === "system" ? "system" : "data", Device: `/dev/xvd${String.fromCharCode(97 + i)}` });
    }
    const body = await ecs("CreateImage", {
      ImageName: request.name,
      Description: `Hoist migration of ${request.inventory.hostname ?? "a server"} (${request.inventory.os.prettyName})`,
      Platform: platformOf(request.inventory),
      Architecture: "x86_64",
      BootMode: request.plan.bootMode === "uefi" ? "UEFI" : "BIOS",
      DiskDeviceMapping: mappings,
      Tag: imageTags(request),
    });
    const imageId = str(body["ImageId"]);
    return { imageId, row: await waitImage(imageId) };
  }

  function info(image: Row, verification?: ImageVerification): ImageInfo {
    const tags = tagMap(image);
    const keys = (tags["hoist:disks"] ?? "").split(",").filter(Boolean);
    const mappings = list(image["DiskDeviceMappings"], "DiskDeviceMapping");
    return {
      name: str(image["ImageName"]),
      region,
      createdAt: str(image["CreationTime"]) || new Date().toISOString(),
      disks: mappings.map((m, i) => ({ key: keys[i] ?? (str(m["Type"]) === "system" ? "system" : `disk${i}`), virtualSizeBytes: Number(m["Size"]) * GiB, format: "cloud-disk" })),
      verification: verification ?? verificationFromTags(tags),
    };
  }

  // --- verification: boot an instance from the image and read its serial console.
  async function bootAndJudge(imageId: string, mounts: string[], timeoutSeconds: number, instanceId?: string): Promise<ImageVerification> {
    const started = Date.now();
    let id = instanceId ?? "";
    let own = false;
    try {
      if (!id) {
        const net = await ensureNetwork();
        const types = options.instanceType ? [options.instanceType] : (options.instanceTypes ?? DEFAULT_INSTANCE_TYPES);
        for (const type of types) {
          try {
            const body = await ecs("RunInstances", { ZoneId: net.zoneId, ImageId: imageId, InstanceType: type, SecurityGroupId: net.securityGroupId, VSwitchId: net.vSwitchId, InstanceName: `hoist-verify-${imageId}`, InstanceChargeType: "PostPaid", InternetMaxBandwidthOut: 0, Amount: 1, Tag: [{ Key: "hoist:verify", Value: imageId }] });
            id = str(list(body["InstanceIdSets"], "InstanceIdSet")[0]);
            own = true;
            break;
          } catch (e) {
            if (!(e instanceof HoistError) || e.code !== "Alibaba.OutOfStock") throw e;
          }
        }
        if (!id) throw new HoistError("Alibaba.NoInstanceTypeInStock", "no instance type in stock to boot the image", { retryable: true });
      } else {
        const i = await describeInstance(id);
        if (i && str(i["Status"]) !== "Running") await ecs("StartInstance", { InstanceId: id });
      }
      await waitInstanceStatus(id, "Running");
      const deadline = started + timeoutSeconds * 1000;
      for (;;) {
        const out = await ecs("GetInstanceConsoleOutput", { InstanceId: id, RemoveSymbols: true });
        const text = Buffer.from(str(out["ConsoleOutput"]), "base64").toString("utf8");
        const verdict = judgeConsole(text, mounts, Date.now() > deadline, timeoutSeconds);
        if (verdict) return { ...verdict, bootSeconds: Math.round((Date.now() - started) / 100) / 10, verifiedAt: new Date().toISOString() };
        await sleep(Math.min(poll, 5000));
      }
    } finally {
      if (own && id) await ecs("DeleteInstance", { InstanceId: id, Force: true }).catch((e: unknown) => log.warn("could not release the boot-check instance", { instanceId: id, error: String(e) }));
    }
  }

  async function recordVerification(imageId: string, v: ImageVerification): Promise<void> {
    await ecs("TagResources", {
      ResourceType: "image",
      ResourceId: [imageId],
      Tag: [
        { Key: "hoist:verification", Value: v.status },
        { Key: "hoist:bootSeconds", Value: String(v.bootSeconds ?? 0) },
        { Key: "hoist:verifiedAt", Value: v.verifiedAt ?? "" },
      ],
    });
  }

  /** A custom image and the snapshots it was made from. */
  async function deleteEcsImage(image: Row): Promise<void> {
    await ecs("DeleteImage", { ImageId: str(image["ImageId"]), Force: true });
    for (const m of list(image["DiskDeviceMappings"], "DiskDeviceMapping")) {
      const snapshotId = str(m["SnapshotId"]);
      if (snapshotId) await ecs("DeleteSnapshot", { SnapshotId: snapshotId, Force: true });
    }
  }

  async function ensExport(name: string, imageId: string): Promise<void> {
    if (target.kind !== "ens") return;
    const prefix = `hoist-${name}-${randomBytes(4).toString("hex")}/`;
    // ENS imports qcow2; ExportImage writes it where the region offers a choice of format, RAW elsewhere.
    const task = await ecs("ExportImage", { ImageId: imageId, OSSBucket: target.transitBucket, OSSPrefix: prefix, ImageFormat: "qcow2" });
    const taskId = str(task["TaskId"]);
    await waitFor(`export task ${taskId}`, async () => {
      const t = await ecs("DescribeTaskAttribute", { TaskId: taskId });
      if (str(t["TaskStatus"]) === "Failed") throw new HoistError("Alibaba.ExportFailed", `exporting image ${imageId} to oss://${target.transitBucket} failed`, { fix: "Grant ECS access to OSS (the AliyunECSImageExportDefaultRole) as the SMC console asks, then run again." });
      return str(t["TaskStatus"]) === "Finished" ? t : null;
    });
    // ExportImage names the files itself (one per disk); the unique prefix makes them ours to find.
    const objects = await api.ossListObjects(target.transitBucket, prefix, region);
    const ordered = ensDiskObjects(objects);
    const system = ordered[0];
    if (!system) throw new HoistError("Alibaba.ExportFailed", `the export of image ${imageId} left no system disk under oss://${target.transitBucket}/${prefix}`, { retryable: true });
    const format = /\.qcow2$/i.test(system) ? "qcow2" : "raw";
    const where = { OSSRegion: region, OSSBucket: target.transitBucket };
    const ens = await api.rpc(
      "ens",
      "ImportImage",
      {
        ImageName: name,
        ComputeType: "ens_vm",
        OSType: "linux",
        Architecture: "x86_64",
        ImageFormat: format,
        ...where,
        OSSObject: system,
        // Every disk of the image, the system disk first, into the ENS region.
        DiskDeviceMapping: ordered.map((object) => ({ ...where, OSSObject: object, TargetOSSRegionId: target.ensRegionId })),
      },
      target.ensRegionId,
    );
    const ensImageId = str(ens["ImageId"]);
    await waitFor(`ENS image ${ensImageId}`, async () => {
      const img = list((await api.rpc("ens", "DescribeImages", { ImageId: ensImageId }, target.ensRegionId))["Images"], "Image")[0];
      if (img && /fail/i.test(str(img["Status"]))) throw new HoistError("Ens.ImportFailed", `ENS could not import ${system}`, { retryable: true });
      return img && str(img["Status"]) === "Available" ? img : null;
    });
    // The intermediate ECS image and the exported objects are temporary (seed 004).
    const ecsImage = list((await ecs("DescribeImages", { ImageId: imageId, ImageOwnerAlias: "self" }))["Images"], "Image")[0];
    if (ecsImage) await deleteEcsImage(ecsImage);
    for (const o of objects) await api.ossDeleteObject(target.transitBucket, o, region);
    log.info("ENS image imported; intermediate image and transit objects deleted", { ensImageId, disks: ordered.length });
  }

  return {
    name: "alibaba",
    target,
    api,
    rollbackDestination,

    async createIntermediateInstance(request: { region: string; label: string; plan?: TargetPlan; inventory?: SourceInventory; adopt?: boolean }) {
      if (target.kind === "ens") {
        if (!request.plan || !request.inventory) throw new HoistError("Ens.NoPlan", "an ENS migration needs the target plan to check ENS's limits before it starts");
        assertEnsLimits(target, request.plan, request.inventory);
        const bucketRegion = await api.ossBucketRegion(target.transitBucket, region);
        if (bucketRegion !== region) {
          throw new HoistError("Ens.BucketRegionMismatch", `the transit bucket ${target.transitBucket} is in ${bucketRegion}, not in the transit region ${region}`, { fix: "Choose an OSS bucket in the same region as the intermediate image." });
        }
      }
      if (target.kind === "instance") return prepareDestination(target.instanceId, request.label, request.plan);
      if (request.adopt) {
        // An instance started for this label whose caller died before it recorded the id is taken up, not left running beside a second one.
        const earlier = await labelledInstance(request.label);
        if (earlier) {
          const id = str(earlier["InstanceId"]);
          log.info("taking up the intermediate instance started earlier for this label", { instanceId: id, label: request.label });
          if (str(earlier["Status"]) === "Stopped") await ecs("StartInstance", { InstanceId: id });
          return connect(id, await waitInstanceStatus(id, "Running"));
        }
      }
      const id = await runIntermediate(request.label, request.plan);
      const row = await waitInstanceStatus(id, "Running");
      return connect(id, row);
    },

    async findIntermediateInstance(instanceId) {
      const row = await describeInstance(instanceId);
      if (!row) return null;
      if (str(row["Status"]) === "Stopped") {
        await ecs("StartInstance", { InstanceId: instanceId });
        return connect(instanceId, await waitInstanceStatus(instanceId, "Running"));
      }
      return connect(instanceId, str(row["Status"]) === "Running" ? row : await waitInstanceStatus(instanceId, "Running"));
    },

    async releaseIntermediateInstance(instanceId) {
      if (target.kind === "instance") {
        // The destination stays, with its own user data; its temporary disk and the rollback snapshots go.
        if (!(await describeInstance(instanceId))) {
          log.warn("the destination instance no longer exists: nothing to clean up on it", { instanceId });
          return;
        }
        await restoreUserData(instanceId, true);
        await dropTempDisks(instanceId);
        for (const s of await rollbackSnapshots(instanceId)) await ecs("DeleteSnapshot", { SnapshotId: str(s["SnapshotId"]), Force: true });
        return;
      }
      const row = await describeInstance(instanceId);
      if (row && str(row["InstanceName"]) !== INTERMEDIATE_INSTANCE_NAME) {
        // Only Hoist's own intermediate instances are ever deleted: a user's instance (a destination) never is.
        throw new HoistError("IntermediateInstance.NotHoists", `instance ${instanceId} is not a Hoist intermediate instance (it is named ${JSON.stringify(str(row["InstanceName"]).slice(0, 128))}), so it is not deleted`, {
          fix: "Nothing to do for it: Hoist releases only instances it started. Release an instance of your own in the ECS console if you mean to.",
        });
      }
      if (row) {
        await ecs("DeleteInstance", { InstanceId: instanceId, Force: true });
        await waitFor(`instance ${instanceId} going away`, async () => ((await describeInstance(instanceId)) ? null : true));
        log.info("released intermediate instance", { instanceId });
      }
      // Target disks were attached with DeleteWithInstance; any left over (detached by hand) go too.
      for (const d of await describeDisks({ DiskName: "hoist-*", Status: "Available" })) {
        if (str(d["DiskName"]).startsWith("hoist-")) await ecs("DeleteDisk", { DiskId: str(d["DiskId"]) });
      }
      await releaseNetwork();
    },

    async imageExists(name) {
      if (target.kind === "ens") {
        const images = list((await api.rpc("ens", "DescribeImages", { ImageName: name }, target.ensRegionId))["Images"], "Image");
        return images.some((i) => str(i["ImageName"]) === name);
      }
      return (await findImage(name)) !== null;
    },

    async createImage(request) {
      if (target.kind === "instance") {
        const { instance, row: destination } = await instanceFor(request.instanceId ?? target.instanceId);
        const disks = await destinationDisks(target.instanceId);
        const data = disks.filter((d) => d.type === "data");
        const system = request.disks.find((d) => d.key === "system");
        if (!system) throw new HoistError("Image.NoSystemDisk", "the migration has no system disk");
        // A retry after the system disk was replaced finds no temporary disk: a new one takes the system disk again.
        const temp = await tempDisk(target.instanceId, str(destination["ZoneId"]), Math.ceil(system.sizeBytes / GiB));
        const dataKeys = request.disks.filter((d) => d.key !== "system").sort((a, b) => a.key.localeCompare(b.key, "en", { numeric: true }));
        for (const [i, d] of dataKeys.entries()) {
          const dest = data[i];
          if (!dest) throw new HoistError("Destination.TooFewDataDisks", `no destination data disk for ${d.key}`);
          await writeOnto(instance, d.rawPath, { DiskId: dest.diskId, Device: dest.device, Size: dest.sizeGiB, Status: "In_use" }, d.sizeBytes);
        }
        await writeOnto(instance, system.rawPath, temp, system.sizeBytes);
        const snap = await snapshot(str(temp["DiskId"]), `hoist-${request.name}-system`);
        const body = await ecs("CreateImage", { ImageName: request.name, SnapshotId: snap, Architecture: "x86_64", Platform: platformOf(request.inventory), BootMode: request.plan.bootMode === "uefi" ? "UEFI" : "BIOS", Tag: imageTags({ ...request, disks: [system] }) });
        const imageId = str(body["ImageId"]);
        const row = await waitImage(imageId);
        await ecs("StopInstance", { InstanceId: target.instanceId });
        await waitInstanceStatus(target.instanceId, "Stopped");
        await ecs("ReplaceSystemDisk", { InstanceId: target.instanceId, ImageId: imageId, SystemDisk: { Size: Math.max(20, Math.ceil(system.sizeBytes / GiB)) } });
        // The temporary disk holds a second copy of the new system disk (the same filesystem UUIDs): it goes before the test boot.
        await dropTempDisks(target.instanceId);
        // The receiver's work is done: its key and token leave the instance before the migrated system first boots there.
        await restoreUserData(target.instanceId);
        return info(row);
      }
      const { imageId, row } = await makeEcsImage(request);
      // No boot check follows: the ENS image is made now (after a boot check it is made when the image booted).
      if (target.kind === "ens" && request.verify === false) await ensExport(request.name, imageId);
      return info(row);
    },

    async verifyImage(name, _region, opts) {
      const timeout = opts?.timeoutSeconds ?? 900;
      const image = await findImage(name);
      if (!image) {
        const cached = ensVerified.get(name);
        if (cached) return cached;
        throw new HoistError("Image.NotFound", `no image named ${name} in ${region}`);
      }
      const imageId = str(image["ImageId"]);
      const mounts = (tagMap(image)["hoist:mounts"] ?? "").split(",").filter(Boolean);
      if (target.kind === "instance") {
        const v = await bootAndJudge(imageId, mounts, timeout, target.instanceId);
        await recordVerification(imageId, v);
        if (v.status !== "booted" || target.testOnly) await rollbackDestination();
        return v;
      }
      const v = await bootAndJudge(imageId, mounts, timeout);
      await recordVerification(imageId, v);
      if (target.kind === "ens" && v.status === "booted") {
        await ensExport(name, imageId);
        ensVerified.set(name, v);
      }
      return v;
    },

    async listImages() {
      const images = list((await ecs("DescribeImages", { ImageOwnerAlias: "self", PageSize: 100 }))["Images"], "Image");
      return images.filter((i) => tagMap(i)["hoist:managed"] === "true").map((i) => info(i));
    },

    async deleteImage(name) {
      const image = await findImage(name);
      if (image) await deleteEcsImage(image);
    },
  };
}

function tagMap(row: Row): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of list(row["Tags"], "Tag")) out[str(t["TagKey"] ?? t["Key"])] = str(t["TagValue"] ?? t["Value"]);
  return out;
}

function verificationFromTags(tags: Record<string, string>): ImageVerification {
  const status = tags["hoist:verification"];
  if (status !== "booted" && status !== "failed") return { status: "unverified" };
  return { status, bootSeconds: Number(tags["hoist:bootSeconds"] ?? 0), ...(tags["hoist:verifiedAt"] ? { verifiedAt: tags["hoist:verifiedAt"] } : {}) };
}

/** ECS's Platform values for the source's distribution. */
function platformOf(inventory: SourceInventory): string {
  const id = inventory.os.id.toLowerCase();
  const known: Record<string, string> = { debian: "Debian", ubuntu: "Ubuntu", centos: "CentOS", rhel: "RedHat", opensuse: "OpenSUSE", sles: "SUSE", almalinux: "AlmaLinux", rocky: "Rocky Linux", alinux: "Aliyun", ol: "Others Linux" };
  return known[id] ?? "Others Linux";
}

// A contract fake of the Alibaba Cloud endpoints Hoist calls (ECS, VPC, ENS
// RPC APIs and OSS), for tests only: nothing here can reach the real cloud.
// It checks what the official SDK sends the way Alibaba Cloud documents it —
// the ACS3-HMAC-SHA256 signature recomputed with the test's AccessKey secret,
// the OSS V1 signature, the action names and their required parameters — and
// keeps the state of VPCs, vSwitches, security groups and rules, instances,
// disks, snapshots, images, OSS objects and ENS images. Resources live in the
// region of the request that made them: another region's RegionId neither
// lists nor finds them, as on Alibaba Cloud. Errors can be injected per action
// (NotEnoughBalance, Forbidden.RAM, throttling, no stock, …).
//
// Its instances are real: one whose user data starts the Hoist receiver runs a
// real `hoist receiver` on a loopback address of its own (its "public IP"),
// with the certificate, key and token the user data carries; one started from
// a custom image boots that image's disks under QEMU, and its serial console is
// what GetInstanceConsoleOutput returns. A cloud disk is a sparse file; its
// "Device" is that file's path (on ECS it would be /dev/vdX). As on ECS, calls
// answer at once and the copying behind snapshots, disks made from them and
// image exports goes on in the background (a snapshot is "progressing" until
// its copy is done; an instance boots once its disks are).
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { closeSync, copyFileSync, existsSync, mkdirSync, readdirSync, openSync, readFileSync, readSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join } from "node:path";
import { parseUserData, startReceiver, stopReceiver } from "@hoist/providers";
import { createControlClient } from "@hoist/transport";

const GiB = 1024 ** 3;
const PRODUCTS: Record<string, string> = { "2014-05-26": "ecs", "2016-04-28": "vpc", "2017-11-10": "ens" };

/** Required parameters per action, from the API references (RegionId is checked for all). */
const REQUIRED: Record<string, string[]> = {
  "ecs:RunInstances": ["ImageId", "InstanceType", "VSwitchId", "SecurityGroupId"],
  "ecs:DescribeUserData": ["InstanceId"],
  "ecs:DeleteInstance": ["InstanceId"],
  "ecs:StartInstance": ["InstanceId"],
  "ecs:StopInstance": ["InstanceId"],
  "ecs:ModifyInstanceAttribute": ["InstanceId"],
  "ecs:CreateSecurityGroup": ["VpcId"],
  "ecs:AuthorizeSecurityGroup": ["SecurityGroupId", "IpProtocol", "PortRange"],
  "ecs:DeleteSecurityGroup": ["SecurityGroupId"],
  "ecs:CreateDisk": ["ZoneId", "Size"],
  "ecs:AttachDisk": ["InstanceId", "DiskId"],
  "ecs:DetachDisk": ["InstanceId", "DiskId"],
  "ecs:DeleteDisk": ["DiskId"],
  "ecs:ResizeDisk": ["DiskId", "NewSize"],
  "ecs:CreateSnapshot": ["DiskId"],
  "ecs:DeleteSnapshot": ["SnapshotId"],
  "ecs:CreateImage": [],
  "ecs:DeleteImage": ["ImageId"],
  "ecs:TagResources": ["ResourceType", "ResourceId.1", "Tag.1.Key"],
  "ecs:GetInstanceConsoleOutput": ["InstanceId"],
  "ecs:ExportImage": ["ImageId", "OSSBucket"],
  "ecs:DescribeTaskAttribute": ["TaskId"],
  "ecs:ReplaceSystemDisk": ["InstanceId", "ImageId"],
  "ecs:ResetDisk": ["DiskId", "SnapshotId"],
  "vpc:CreateVpc": [],
  "vpc:DeleteVpc": ["VpcId"],
  "vpc:CreateVSwitch": ["VpcId", "ZoneId", "CidrBlock"],
  "vpc:DeleteVSwitch": ["VSwitchId"],
  "ens:ImportImage": ["ImageName", "ComputeType", "OSType", "ImageFormat", "Architecture"],
};
const KNOWN = new Set([
  ...Object.keys(REQUIRED),
  "ecs:DescribeZones",
  "ecs:DescribeImages",
  "ecs:DescribeInstances",
  "ecs:DescribeSecurityGroups",
  "ecs:DescribeDisks",
  "ecs:DescribeSnapshots",
  "vpc:DescribeVpcs",
  "vpc:DescribeVSwitches",
  "ens:DescribeImages",
]);

/** Reads (and with `text`, first writes) 32 bytes at 1 MiB into a cloud disk's file: a mark a test can find again. */
export function diskMark(file: string, text?: string): string {
  const fd = openSync(file, text === undefined ? "r" : "r+");
  try {
    if (text !== undefined) writeSync(fd, text.padEnd(32, "\0"), 1024 * 1024);
    const buf = Buffer.alloc(32);
    readSync(fd, buf, 0, 32, 1024 * 1024);
    return buf.toString("utf8").replace(/\0+$/, "");
  } finally {
    closeSync(fd);
  }
}

/** ExportImage's ImageFormat values, and the regions where it is honoured (elsewhere the export is RAW). */
const EXPORT_FORMATS = ["raw", "vhd", "qcow2", "vmdk", "vdi"];
const EXPORT_FORMAT_REGIONS = ["ap-northeast-1", "ap-southeast-5", "eu-central-1", "me-east-1", "us-east-1", "eu-west-1", "ap-southeast-1", "ap-southeast-3", "us-west-1"];

/** Parameters naming one resource, each checked to be in the request's region. */
const ID_PARAMS = ["InstanceId", "DiskId", "SnapshotId", "ImageId", "VpcId", "VSwitchId", "SecurityGroupId", "ResourceId"];
/** Actions that list resources: they show those of the request's region only. */
const LISTS = new Set(["DescribeZones", "DescribeImages", "DescribeInstances", "DescribeSecurityGroups", "DescribeDisks", "DescribeSnapshots", "DescribeVpcs", "DescribeVSwitches"]);

export interface FakeCall {
  product: string;
  action: string;
  params: Record<string, string>;
}

interface Injected {
  product?: string;
  action: string;
  code: string;
  status: number;
  times: number;
  message: string;
}

type Rec = Record<string, unknown>;

interface Instance {
  id: string;
  region: string;
  name: string;
  type: string;
  zoneId: string;
  imageId: string;
  vSwitchId: string;
  vpcId: string;
  securityGroupId: string;
  status: "Pending" | "Starting" | "Running" | "Stopped";
  /** Its power-on (the receiver of its user data starting, or its image booting) while the API has answered already. */
  starting: Promise<void> | null;
  publicIp: string;
  privateIp: string;
  userData: string;
  osType: string;
  stateDir: string;
  console: string;
  qemu: ChildProcess | null;
  tags: Rec[];
}

interface Disk {
  id: string;
  region: string;
  /** Its content is in place (a disk made from a snapshot is copied in the background). */
  ready: Promise<void>;
  name: string;
  size: number;
  type: "system" | "data";
  instanceId: string;
  deleteWithInstance: boolean;
  file: string;
  zoneId: string;
}

interface Snapshot {
  id: string;
  region: string;
  /** The copy of the disk is done (the snapshot is then accomplished). */
  done: Promise<void>;
  accomplished: boolean;
  name: string;
  diskId: string;
  diskType: "system" | "data";
  diskSize: number;
  instanceId: string;
  file: string;
  polled: boolean;
  tags: Rec[];
}

interface Image {
  id: string;
  /** "*" for public images, which every region offers. */
  region: string;
  name: string;
  owner: "self" | "system";
  status: "Creating" | "Available";
  osType: string;
  platform: string;
  bootMode: string;
  architecture: string;
  created: string;
  mappings: { snapshotId: string; size: number; type: "system" | "data" }[];
  tags: Rec[];
}

export interface StartFakeOptions {
  dir: string;
  accessKeyId: string;
  accessKeySecret: string;
  regionId?: string;
  zones?: string[];
  /** Instance types with no stock (RunInstances answers OperationDenied.NoStock). */
  outOfStock?: string[];
  qemuMemoryMiB?: number;
}

/** RFC 3986 percent-encoding as the signature documentation specifies (space %20, * %2A, ~ kept). */
export function percentEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Recomputes an ACS3-HMAC-SHA256 signature from the documented canonical request. */
export function acs3Signature(method: string, path: string, query: [string, string][], headers: Record<string, string>, signedHeaders: string[], payloadHash: string, secret: string): string {
  const canonicalQuery = query
    .map(([k, v]) => [percentEncode(k), percentEncode(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const canonicalHeaders = signedHeaders.map((h) => `${h}:${(headers[h] ?? "").trim()}\n`).join("");
  const canonical = [method, path, canonicalQuery, canonicalHeaders, signedHeaders.join(";"), payloadHash].join("\n");
  const stringToSign = `ACS3-HMAC-SHA256\n${createHash("sha256").update(canonical).digest("hex")}`;
  return createHmac("sha256", secret).update(stringToSign).digest("hex");
}

/** OSS sub-resources that belong to the canonicalized resource (OSS V1 signature documentation). */
const OSS_SUBRESOURCES = new Set(["acl", "bucketInfo", "location", "uploads", "uploadId", "partNumber", "tagging", "versionId", "versioning", "versions", "website", "lifecycle", "cors", "logging", "referer", "delete", "append", "position", "security-token", "symlink", "restore", "stat", "inventory", "worm", "objectMeta", "qos", "policy", "continuation-token"]);

export class AlibabaContractFake {
  readonly calls: FakeCall[] = [];
  /** Requests whose signature the fake recomputed and found right. */
  signaturesVerified = 0;
  readonly vpcs = new Map<string, Rec>();
  readonly vswitches = new Map<string, Rec & { nextIp: number }>();
  readonly securityGroups = new Map<string, Rec & { rules: Rec[] }>();
  readonly instances = new Map<string, Instance>();
  readonly disks = new Map<string, Disk>();
  readonly snapshots = new Map<string, Snapshot>();
  readonly images = new Map<string, Image>();
  readonly tasks = new Map<string, { status: string; polled: boolean }>();
  readonly buckets = new Map<string, { region: string; objects: Map<string, string> }>();
  readonly ensImages = new Map<string, Rec & { polled: boolean }>();
  private readonly injected: Injected[] = [];
  private readonly copying = new Set<Promise<void>>();
  /** The answer to each action and ClientToken: a request sent again with its token makes nothing twice. */
  private readonly answered = new Map<string, Rec>();
  private readonly nonces = new Set<string>();
  private server: Server | null = null;
  endpoint = "";

  constructor(readonly options: StartFakeOptions) {
    mkdirSync(join(options.dir, "disks"), { recursive: true });
    mkdirSync(join(options.dir, "instances"), { recursive: true });
    mkdirSync(join(options.dir, "oss"), { recursive: true });
    this.images.set("m-debian12-public", {
      id: "m-debian12-public",
      region: "*",
      name: "debian_12_8_x64_20G_alibase_20250101.vhd",
      owner: "system",
      status: "Available",
      osType: "linux",
      platform: "Debian",
      bootMode: "BIOS",
      architecture: "x86_64",
      created: "2025-01-01T00:00:00Z",
      mappings: [],
      tags: [],
    });
  }

  get region(): string {
    return this.options.regionId ?? "cn-hangzhou";
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => this.fail(res, 500, "InternalError", e instanceof Error ? e.message : String(e)));
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    const addr = this.server.address() as { port: number };
    this.endpoint = `http://127.0.0.1:${addr.port}`;
    return this;
  }

  /** The next `times` calls of `action` fail with `code`. */
  inject(action: string, code: string, options: { times?: number; status?: number; product?: string; message?: string } = {}): void {
    this.injected.push({ action, code, status: options.status ?? (code.startsWith("Forbidden") ? 403 : /Throttling/.test(code) ? 400 : 400), times: options.times ?? 1, message: options.message ?? `injected ${code}`, ...(options.product ? { product: options.product } : {}) });
  }

  actions(product?: string): string[] {
    return this.calls.filter((c) => !product || c.product === product).map((c) => c.action);
  }

  addBucket(name: string, region: string): void {
    this.buckets.set(name, { region, objects: new Map() });
    mkdirSync(join(this.options.dir, "oss", name), { recursive: true });
  }

  /** An instance that exists before the migration (seed 003's destination), with disks of these sizes. */
  seedInstance(spec: { osType?: string; systemGiB: number; dataGiB: number[]; zoneId?: string; regionId?: string }): string {
    const id = this.id("i");
    const region = spec.regionId ?? this.region;
    const zoneId = spec.zoneId ?? this.zones(region)[0]!;
    const inst: Instance = { id, region, name: "destination", type: "ecs.g7.large", zoneId, imageId: "m-debian12-public", vSwitchId: "", vpcId: "", securityGroupId: "", status: "Running", publicIp: this.loopbackIp(), privateIp: "192.168.0.10", userData: "", osType: spec.osType ?? "linux", stateDir: join(this.options.dir, "instances", id), console: "", qemu: null, starting: null, tags: [] };
    this.instances.set(id, inst);
    this.newDisk(region, spec.systemGiB, "system", id, zoneId, "system", true);
    for (const [i, g] of spec.dataGiB.entries()) this.newDisk(region, g, "data", id, zoneId, `data${i + 1}`, false);
    return id;
  }

  /** A VPC with one vSwitch that the user made (seed 003's "specify a VPC and a vSwitch"). */
  seedNetwork(regionId: string = this.region): { vpcId: string; vSwitchId: string; zoneId: string } {
    const vpcId = this.id("vpc");
    const vSwitchId = this.id("vsw");
    const zoneId = this.zones(regionId)[0]!;
    this.vpcs.set(vpcId, { VpcId: vpcId, VpcName: "users-own", CidrBlock: "10.0.0.0/8", Status: "Available", RegionId: regionId });
    this.vswitches.set(vSwitchId, { VSwitchId: vSwitchId, VpcId: vpcId, ZoneId: zoneId, CidrBlock: "10.1.0.0/16", VSwitchName: "users-own", Status: "Available", RegionId: regionId, nextIp: 10 });
    return { vpcId, vSwitchId, zoneId };
  }

  /** The region a resource was made in; undefined for one every region offers (public images) or none at all. */
  regionOf(id: string): string | undefined {
    const r = this.instances.get(id)?.region ?? this.disks.get(id)?.region ?? this.snapshots.get(id)?.region ?? this.images.get(id)?.region ?? this.vpcs.get(id)?.["RegionId"] ?? this.vswitches.get(id)?.["RegionId"] ?? this.securityGroups.get(id)?.["RegionId"];
    return typeof r === "string" && r !== "*" ? r : undefined;
  }

  private inRegion(id: string, region: string | undefined): boolean {
    const r = this.regionOf(id);
    return r === undefined || r === region;
  }

  /** Waits for the copies still running behind the API (snapshots, disks from snapshots, exports, resets). */
  async settled(): Promise<void> {
    for (let round = 0; round < 100 && this.copying.size > 0; round++) await Promise.allSettled([...this.copying]);
  }

  async close(): Promise<void> {
    for (const inst of this.instances.values()) await this.powerOff(inst);
    await Promise.allSettled([...this.copying]);
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  // ---------------------------------------------------------------- transport
  private fail(res: ServerResponse, status: number, code: string, message: string): void {
    if (res.headersSent) return;
    const body = JSON.stringify({ Code: code, Message: message, RequestId: randomBytes(8).toString("hex").toUpperCase() });
    res.writeHead(status, { "content-type": "application/json" });
    res.end(body);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const auth = String(req.headers.authorization ?? "");
    if (auth.startsWith("ACS3-HMAC-SHA256 ")) return this.rpc(req, res, body, auth);
    if (auth.startsWith("OSS ")) {
      this.oss(req, res, auth);
      return;
    }
    return this.fail(res, 401, "MissingAuthorization", "no Authorization header of a known scheme");
  }

  private async rpc(req: IncomingMessage, res: ServerResponse, body: Buffer, auth: string): Promise<void> {
    const m = /^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m) return this.fail(res, 400, "IncompleteSignature", "malformed ACS3 Authorization header");
    if (m[1] !== this.options.accessKeyId) return this.fail(res, 404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.");
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(",") : String(v ?? "");
    const signed = (m[2] ?? "").split(";");
    for (const h of ["host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"]) {
      if (!headers[h]) return this.fail(res, 400, "MissingParameter", `header ${h} is required`);
    }
    for (const h of ["host", ...Object.keys(headers).filter((k) => k.startsWith("x-acs-"))]) {
      if (!signed.includes(h)) return this.fail(res, 400, "IncompleteSignature", `header ${h} must be signed`);
    }
    if (createHash("sha256").update(body).digest("hex") !== headers["x-acs-content-sha256"]) return this.fail(res, 400, "IncompleteSignature", "x-acs-content-sha256 does not match the body");
    if (Math.abs(Date.parse(headers["x-acs-date"] ?? "") - Date.now()) > 15 * 60_000) return this.fail(res, 400, "InvalidTimeStamp.Expired", "x-acs-date is more than 15 minutes off");
    const nonce = headers["x-acs-signature-nonce"] ?? "";
    if (this.nonces.has(nonce)) return this.fail(res, 400, "SignatureNonceUsed", "the nonce was used before");
    this.nonces.add(nonce);
    const url = new URL(req.url ?? "/", "http://fake");
    const query = [...url.searchParams.entries()];
    const expected = acs3Signature(req.method ?? "POST", url.pathname, query, headers, signed, headers["x-acs-content-sha256"] ?? "", this.options.accessKeySecret);
    if (expected !== m[3]) return this.fail(res, 400, "SignatureDoesNotMatch", "the request signature does not conform to Alibaba Cloud standards");
    this.signaturesVerified++;
    const product = PRODUCTS[headers["x-acs-version"] ?? ""];
    const action = headers["x-acs-action"] ?? "";
    if (!product) return this.fail(res, 400, "InvalidVersion", `unknown API version ${headers["x-acs-version"]}`);
    const params: Record<string, string> = Object.fromEntries(query);
    if ((headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")) Object.assign(params, Object.fromEntries(new URLSearchParams(body.toString("utf8"))));
    this.calls.push({ product, action, params });
    if (!KNOWN.has(`${product}:${action}`)) return this.fail(res, 404, "InvalidAction.NotFound", `${product} has no action ${action} in this fake`);
    if (!params["RegionId"]) return this.fail(res, 400, "MissingRegionId", "RegionId is mandatory for this action.");
    for (const p of REQUIRED[`${product}:${action}`] ?? []) {
      if (params[p] === undefined || params[p] === "") return this.fail(res, 400, `Missing${p.replace(/\.\d+/g, "").replace(/\./g, "")}`, `${p} is mandatory for this action.`);
    }
    const inj = this.injected.find((i) => i.action === action && (!i.product || i.product === product) && i.times > 0);
    if (inj) {
      inj.times--;
      return this.fail(res, inj.status, inj.code, inj.message);
    }
    // A resource of another region is not there for this request (lists filter them out themselves).
    if (product !== "ens" && !LISTS.has(action)) {
      for (const [k, v] of Object.entries(params)) {
        const name = k.replace(/\.\d+$/, "");
        if (!ID_PARAMS.includes(name) || this.inRegion(v, params["RegionId"])) continue;
        return this.fail(res, 404, `Invalid${name === "ResourceId" ? "ResourceId" : name}.NotFound`, `The specified ${name} does not exist in region ${params["RegionId"]}.`);
      }
    }
    try {
      const token = params["ClientToken"] ? `${product}:${action}:${params["ClientToken"]}` : "";
      const out = this.answered.get(token) ?? (await this.dispatch(product, action, params));
      if (token) this.answered.set(token, out);
      const text = JSON.stringify({ RequestId: randomBytes(8).toString("hex").toUpperCase(), ...out });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(text);
    } catch (e) {
      const err = e as { code?: string; status?: number; message?: string };
      if (err.code) return this.fail(res, err.status ?? 400, err.code, err.message ?? err.code);
      throw e;
    }
  }

  private oss(req: IncomingMessage, res: ServerResponse, auth: string): boolean {
    const m = /^OSS ([^:]+):(.+)$/.exec(auth);
    const url = new URL(req.url ?? "/", "http://fake");
    const parts = url.pathname.split("/").filter(Boolean);
    const bucket = decodeURIComponent(parts[0] ?? "");
    const key = parts.slice(1).map(decodeURIComponent).join("/");
    const h = (n: string) => String(req.headers[n] ?? "");
    const ossHeaders = Object.keys(req.headers)
      .filter((k) => k.startsWith("x-oss-"))
      .sort()
      .map((k) => `${k}:${h(k).trim()}\n`)
      .join("");
    const sub = [...url.searchParams.entries()].filter(([k]) => OSS_SUBRESOURCES.has(k)).sort(([a], [b]) => (a < b ? -1 : 1));
    const resource = `/${bucket}/${key}${sub.length ? `?${sub.map(([k, v]) => (v ? `${k}=${v}` : k)).join("&")}` : ""}`;
    const toSign = `${req.method}\n${h("content-md5")}\n${h("content-type")}\n${h("date")}\n${ossHeaders}${resource}`;
    const expected = createHmac("sha1", this.options.accessKeySecret).update(toSign).digest("base64");
    const xml = (status: number, text: string) => {
      res.writeHead(status, { "content-type": "application/xml" });
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${text}`);
      return true;
    };
    if (!m || m[1] !== this.options.accessKeyId) return xml(403, "<Error><Code>InvalidAccessKeyId</Code><Message>bad AccessKey</Message></Error>");
    if (m[2] !== expected) return xml(403, "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message></Error>");
    this.signaturesVerified++;
    const b = this.buckets.get(bucket);
    const action = req.method === "DELETE" ? "DeleteObject" : url.searchParams.has("bucketInfo") ? "GetBucketInfo" : url.searchParams.get("list-type") === "2" ? "ListObjectsV2" : `${req.method}`;
    this.calls.push({ product: "oss", action, params: { bucket, key, ...Object.fromEntries(url.searchParams) } });
    const inj = this.injected.find((i) => i.action === action && i.times > 0);
    if (inj) {
      inj.times--;
      return xml(inj.status, `<Error><Code>${inj.code}</Code><Message>${inj.message}</Message></Error>`);
    }
    if (!b) return xml(404, "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist.</Message></Error>");
    if (action === "GetBucketInfo") return xml(200, `<BucketInfo><Bucket><Name>${bucket}</Name><Location>oss-${b.region}</Location><Region>${b.region}</Region></Bucket></BucketInfo>`);
    if (action === "ListObjectsV2") {
      const prefix = url.searchParams.get("prefix") ?? "";
      const keys = [...b.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
      return xml(200, `<ListBucketResult><Name>${bucket}</Name><Prefix>${prefix}</Prefix><KeyCount>${keys.length}</KeyCount><IsTruncated>false</IsTruncated>${keys.map((k) => `<Contents><Key>${k}</Key><Size>1</Size></Contents>`).join("")}</ListBucketResult>`);
    }
    if (action === "DeleteObject") {
      const file = b.objects.get(key);
      if (file) rmSync(file, { force: true });
      b.objects.delete(key);
      res.writeHead(204);
      res.end();
      return true;
    }
    return xml(405, "<Error><Code>MethodNotAllowed</Code><Message>not in this fake</Message></Error>");
  }

  // ---------------------------------------------------------------- helpers
  private id(prefix: string): string {
    return `${prefix}-${randomBytes(9).toString("hex").slice(0, 17)}`;
  }

  private zones(region: string = this.region): string[] {
    return region === this.region && this.options.zones ? this.options.zones : [`${region}-h`, `${region}-i`];
  }

  private loopbackIp(): string {
    const r = randomBytes(3);
    return `127.${100 + ((r[0] ?? 0) % 100)}.${r[1] ?? 1}.${1 + ((r[2] ?? 0) % 250)}`;
  }

  private err(code: string, message: string, status = 400): Error {
    return Object.assign(new Error(message), { code, status });
  }

  private list(params: Record<string, string>, name: string): Rec[] {
    const out: Rec[] = [];
    for (let i = 1; params[`${name}.${i}.Key`] !== undefined || params[`${name}.${i}.SnapshotId`] !== undefined || params[`${name}.${i}.Size`] !== undefined; i++) {
      const item: Rec = {};
      for (const [k, v] of Object.entries(params)) if (k.startsWith(`${name}.${i}.`)) item[k.slice(`${name}.${i}.`.length)] = v;
      out.push(item);
    }
    return out;
  }

  private newDisk(region: string, sizeGiB: number, type: "system" | "data", instanceId: string, zoneId: string, name: string, deleteWithInstance: boolean, from?: Promise<string>): Disk {
    const id = this.id("d");
    const file = join(this.options.dir, "disks", `${id}.raw`);
    writeFileSync(file, "");
    truncateSync(file, sizeGiB * GiB);
    const ready = from
      ? this.track(
          from
            .then((src) => this.copy(src, file))
            .then(() => {
              if (existsSync(file)) truncateSync(file, Math.max(sizeGiB * GiB, statSync(file).size));
            }),
        )
      : Promise.resolve();
    const d: Disk = { id, region, name, size: sizeGiB, type, instanceId, deleteWithInstance, file, zoneId, ready };
    this.disks.set(id, d);
    return d;
  }

  /** A sparse copy that does not hold up the event loop; close() waits for those still running. */
  /** Every `name.N.*` group of a flattened array parameter, in order. */
  private entries(params: Record<string, string>, name: string): Record<string, string>[] {
    const out: Record<string, string>[] = [];
    for (let i = 1; Object.keys(params).some((k) => k.startsWith(`${name}.${i}.`)); i++) {
      const item: Record<string, string> = {};
      for (const [k, v] of Object.entries(params)) if (k.startsWith(`${name}.${i}.`)) item[k.slice(`${name}.${i}.`.length)] = v;
      out.push(item);
    }
    return out;
  }

  private convert(src: string, format: string, dst: string): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      const q = spawn("qemu-img", ["convert", "-f", "raw", "-O", format, src, dst], { stdio: "ignore" });
      q.on("error", reject);
      q.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`qemu-img convert ${src} exited with ${code}`))));
    });
    return this.track(done);
  }

  /** What an object really holds: qcow2 files start with "QFI\xfb". */
  private formatOf(file: string): string {
    const head = Buffer.alloc(4);
    const fd = openSync(file, "r");
    try {
      readSync(fd, head, 0, 4, 0);
    } finally {
      closeSync(fd);
    }
    return head.equals(Buffer.from([0x51, 0x46, 0x49, 0xfb])) ? "qcow2" : "raw";
  }

  private copy(src: string, dst: string): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      const cp = spawn("cp", ["--sparse=always", src, dst], { stdio: "ignore" });
      cp.on("error", reject);
      cp.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`cp ${src} ${dst} exited with ${code}`))));
    });
    return this.track(done);
  }

  /** Work that goes on after the call that started it answered; settled() and close() wait for it. */
  private track(work: Promise<void>): Promise<void> {
    this.copying.add(work);
    work.then(
      () => this.copying.delete(work),
      () => this.copying.delete(work),
    );
    return work;
  }

  /** A snapshot's file once its copy is done. */
  private snapshotFile(s: Snapshot): Promise<string> {
    return s.done.then(() => s.file);
  }

  private diskRow(d: Disk): Rec {
    return { DiskId: d.id, DiskName: d.name, Size: d.size, Type: d.type, Category: "cloud_essd", Status: d.instanceId ? "In_use" : "Available", InstanceId: d.instanceId, ZoneId: d.zoneId, RegionId: d.region, Device: d.instanceId ? d.file : "" };
  }

  private instanceRow(i: Instance): Rec {
    return {
      InstanceId: i.id,
      InstanceName: i.name,
      InstanceType: i.type,
      ZoneId: i.zoneId,
      RegionId: i.region,
      ImageId: i.imageId,
      Status: i.status,
      OSType: i.osType,
      PublicIpAddress: { IpAddress: i.publicIp ? [i.publicIp] : [] },
      VpcAttributes: { VpcId: i.vpcId, VSwitchId: i.vSwitchId, PrivateIpAddress: { IpAddress: [i.privateIp] } },
      SecurityGroupIds: { SecurityGroupId: [i.securityGroupId] },
      Tags: { Tag: i.tags.map((t) => ({ TagKey: t["Key"], TagValue: t["Value"] })) },
    };
  }

  private imageRow(i: Image): Rec {
    const row: Rec = {
      ImageId: i.id,
      ImageName: i.name,
      ImageOwnerAlias: i.owner,
      Status: i.status,
      OSType: i.osType,
      Platform: i.platform,
      BootMode: i.bootMode,
      Architecture: i.architecture,
      CreationTime: i.created,
      Size: i.mappings[0]?.size ?? 20,
      DiskDeviceMappings: { DiskDeviceMapping: i.mappings.map((m) => ({ SnapshotId: m.snapshotId, Size: String(m.size), Type: m.type })) },
      Tags: { Tag: i.tags.map((t) => ({ TagKey: t["Key"], TagValue: t["Value"] })) },
    };
    if (i.status === "Creating") i.status = "Available";
    return row;
  }

  /**
   * RunInstances and StartInstance answer at once, as ECS does: the instance is Starting until its
   * power-on is done (Running even when its receiver did not start, as a real one whose user data failed).
   */
  private startUp(inst: Instance): void {
    inst.status = "Starting";
    inst.starting = this.powerOn(inst)
      .catch((e: unknown) => {
        inst.console ||= join(inst.stateDir, "console.log");
        mkdirSync(inst.stateDir, { recursive: true });
        writeFileSync(inst.console, `power-on failed: ${e instanceof Error ? e.message : String(e)}\n`, { flag: "a" });
      })
      .finally(() => {
        if (inst.status === "Starting") inst.status = "Running";
        inst.starting = null;
      });
  }

  /** What a real instance does at power-on: run the receiver its user data sets up, or boot its image. */
  private async powerOn(inst: Instance): Promise<void> {
    const image = this.images.get(inst.imageId);
    if (image && image.owner === "self") {
      await Promise.all([...this.disks.values()].filter((d) => d.instanceId === inst.id).map((d) => d.ready));
      return this.boot(inst, image);
    }
    if (!inst.userData) return;
    const script = Buffer.from(inst.userData, "base64").toString("utf8");
    if (!script.includes("hoist-receiver.service")) return;
    const boot = parseUserData(script);
    mkdirSync(inst.stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(inst.stateDir, "cert.pem"), boot.certPem, { mode: 0o600 });
    writeFileSync(join(inst.stateDir, "key.pem"), boot.keyPem, { mode: 0o600 });
    writeFileSync(join(inst.stateDir, "admin.token"), `${boot.adminToken}\n`, { mode: 0o600 });
    const host = inst.publicIp || inst.privateIp;
    await startReceiver(inst.id, { stateDir: inst.stateDir, host, controlPort: boot.controlPort, dataPort: boot.dataPort });
  }

  private boot(inst: Instance, image: Image): void {
    const disks = [...this.disks.values()].filter((d) => d.instanceId === inst.id).sort((a, b) => (a.type === "system" ? -1 : b.type === "system" ? 1 : a.name.localeCompare(b.name)));
    const consolePath = join(inst.stateDir, "console.log");
    mkdirSync(inst.stateDir, { recursive: true });
    rmSync(consolePath, { force: true });
    inst.console = consolePath;
    const tcg = !/\b(vmx|svm)\b/.test(readFileSync("/proc/cpuinfo", "utf8")) || !existsSync("/dev/kvm");
    const args = ["-nodefaults", "-m", String(this.options.qemuMemoryMiB ?? 1024), "-smp", "2", "-nographic", "-monitor", "none", "-serial", `file:${consolePath}`, "-accel", tcg ? "tcg" : "kvm"];
    if (image.bootMode === "UEFI") {
      const code = ["/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_CODE.fd"].find(existsSync) ?? "";
      const varsSrc = code.replace("CODE", "VARS");
      const vars = join(inst.stateDir, "OVMF_VARS.fd");
      copyFileSync(varsSrc, vars);
      args.push("-machine", "q35", "-drive", `if=pflash,format=raw,unit=0,readonly=on,file=${code}`, "-drive", `if=pflash,format=raw,unit=1,file=${vars}`);
    }
    for (const d of disks) args.push("-drive", `file=${d.file},if=virtio,format=raw,snapshot=on`);
    args.push("-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0", "-vga", "none");
    inst.qemu = spawn("qemu-system-x86_64", args, { stdio: "ignore" });
  }

  private async powerOff(inst: Instance): Promise<void> {
    if (inst.starting) await inst.starting;
    if (inst.qemu && inst.qemu.exitCode === null) {
      const exited = new Promise<void>((r) => inst.qemu?.once("exit", () => r()));
      inst.qemu.kill("SIGKILL");
      await exited;
    }
    inst.qemu = null;
    if (existsSync(join(inst.stateDir, "receiver.json"))) {
      // A powered-off machine's loop devices and mounts would vanish with it; here they must be taken down.
      try {
        const facts = JSON.parse(readFileSync(join(inst.stateDir, "receiver.json"), "utf8")) as { controlPort: number; fingerprint: string };
        const admin = createControlClient({ host: inst.publicIp || inst.privateIp, port: facts.controlPort, fingerprint: facts.fingerprint, token: readFileSync(join(inst.stateDir, "admin.token"), "utf8").trim(), timeoutMs: 120_000 });
        for (const job of existsSync(join(inst.stateDir, "jobs")) ? readdirSync(join(inst.stateDir, "jobs")) : []) await admin.call("DELETE", `/v1/jobs/${job}`).catch(() => undefined);
      } catch {
        // the receiver is gone already
      }
      await stopReceiver(inst.stateDir);
    }
    inst.status = "Stopped";
  }

  // ---------------------------------------------------------------- actions
  private async dispatch(product: string, action: string, p: Record<string, string>): Promise<Rec> {
    const key = `${product}:${action}`;
    const region = p["RegionId"] ?? this.region;
    const here = (id: string) => this.inRegion(id, region);
    switch (key) {
      case "ecs:DescribeZones":
        return { Zones: { Zone: this.zones(region).map((z) => ({ ZoneId: z, LocalName: z })) } };
      case "ecs:DescribeImages": {
        const nameRe = p["ImageName"] ? new RegExp(`^${p["ImageName"].replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`) : null;
        const rows = [...this.images.values()].filter((i) => here(i.id) && (!p["ImageId"] || i.id === p["ImageId"]) && (!p["ImageOwnerAlias"] || i.owner === p["ImageOwnerAlias"]) && (!nameRe || nameRe.test(i.name)));
        return { Images: { Image: rows.map((i) => this.imageRow(i)) }, TotalCount: rows.length };
      }
      case "vpc:CreateVpc": {
        const id = this.id("vpc");
        this.vpcs.set(id, { VpcId: id, VpcName: p["VpcName"] ?? "", CidrBlock: p["CidrBlock"] ?? "172.16.0.0/12", Status: "Pending", RegionId: region });
        return { VpcId: id };
      }
      case "vpc:DescribeVpcs": {
        const rows = [...this.vpcs.values()].filter((v) => here(String(v["VpcId"])) && (!p["VpcId"] || v["VpcId"] === p["VpcId"]) && (!p["VpcName"] || v["VpcName"] === p["VpcName"]));
        const out = rows.map((v) => ({ ...v }));
        for (const v of rows) v["Status"] = "Available";
        return { Vpcs: { Vpc: out }, TotalCount: out.length };
      }
      case "vpc:DeleteVpc": {
        if ([...this.vswitches.values()].some((s) => s["VpcId"] === p["VpcId"])) throw this.err("DependencyViolation.VSwitch", "the VPC still has vSwitches");
        if ([...this.securityGroups.values()].some((s) => s["VpcId"] === p["VpcId"])) throw this.err("DependencyViolation.SecurityGroup", "the VPC still has security groups");
        if (!this.vpcs.delete(p["VpcId"] ?? "")) throw this.err("InvalidVpcId.NotFound", "no such VPC", 404);
        return {};
      }
      case "vpc:CreateVSwitch": {
        if (!this.vpcs.has(p["VpcId"] ?? "")) throw this.err("InvalidVpcId.NotFound", "no such VPC", 404);
        const id = this.id("vsw");
        this.vswitches.set(id, { VSwitchId: id, VpcId: p["VpcId"], ZoneId: p["ZoneId"], CidrBlock: p["CidrBlock"], VSwitchName: p["VSwitchName"] ?? "", Status: "Pending", RegionId: region, nextIp: 10 });
        return { VSwitchId: id };
      }
      case "vpc:DescribeVSwitches": {
        const rows = [...this.vswitches.values()].filter((s) => here(String(s["VSwitchId"])) && (!p["VSwitchId"] || s["VSwitchId"] === p["VSwitchId"]) && (!p["VpcId"] || s["VpcId"] === p["VpcId"]) && (!p["ZoneId"] || s["ZoneId"] === p["ZoneId"]));
        const out = rows.map(({ nextIp: _n, ...s }) => ({ ...s }));
        for (const s of rows) s["Status"] = "Available";
        return { VSwitches: { VSwitch: out }, TotalCount: out.length };
      }
      case "vpc:DeleteVSwitch": {
        if ([...this.instances.values()].some((i) => i.vSwitchId === p["VSwitchId"])) throw this.err("DependencyViolation", "instances still use the vSwitch");
        if (!this.vswitches.delete(p["VSwitchId"] ?? "")) throw this.err("InvalidVSwitchId.NotFound", "no such vSwitch", 404);
        return {};
      }
      case "ecs:CreateSecurityGroup": {
        const id = this.id("sg");
        this.securityGroups.set(id, { SecurityGroupId: id, VpcId: p["VpcId"], SecurityGroupName: p["SecurityGroupName"] ?? "", RegionId: region, rules: [] });
        return { SecurityGroupId: id };
      }
      case "ecs:DescribeSecurityGroups": {
        const rows = [...this.securityGroups.values()].filter((s) => here(String(s["SecurityGroupId"])) && (!p["VpcId"] || s["VpcId"] === p["VpcId"]) && (!p["SecurityGroupName"] || s["SecurityGroupName"] === p["SecurityGroupName"]));
        return { SecurityGroups: { SecurityGroup: rows.map(({ rules: _r, ...s }) => s) } };
      }
      case "ecs:AuthorizeSecurityGroup": {
        const sg = this.securityGroups.get(p["SecurityGroupId"] ?? "");
        if (!sg) throw this.err("InvalidSecurityGroupId.NotFound", "no such security group", 404);
        const rule = { IpProtocol: p["IpProtocol"], PortRange: p["PortRange"], SourceCidrIp: p["SourceCidrIp"] ?? "", Policy: p["Policy"] ?? "accept", Direction: "ingress" };
        if (!sg.rules.some((r) => JSON.stringify(r) === JSON.stringify(rule))) sg.rules.push(rule);
        return {};
      }
      case "ecs:DeleteSecurityGroup": {
        if ([...this.instances.values()].some((i) => i.securityGroupId === p["SecurityGroupId"])) throw this.err("DependencyViolation", "instances still use the group");
        this.securityGroups.delete(p["SecurityGroupId"] ?? "");
        return {};
      }
      case "ecs:RunInstances":
        return this.runInstances(p);
      case "ecs:DescribeInstances": {
        const ids = p["InstanceIds"] ? (JSON.parse(p["InstanceIds"]) as string[]) : null;
        const rows = [...this.instances.values()].filter(
          (i) => here(i.id) && (!ids || ids.includes(i.id)) && (!p["VpcId"] || i.vpcId === p["VpcId"]) && (!p["SecurityGroupId"] || i.securityGroupId === p["SecurityGroupId"]),
        );
        return { Instances: { Instance: rows.map((i) => this.instanceRow(i)) }, TotalCount: rows.length };
      }
      case "ecs:DescribeUserData": {
        const inst = this.instances.get(p["InstanceId"] ?? "");
        if (!inst) throw this.err("InvalidInstanceId.NotFound", "no such instance", 404);
        return { InstanceId: inst.id, UserData: inst.userData };
      }
      case "ecs:DeleteInstance": {
        const inst = this.instances.get(p["InstanceId"] ?? "");
        if (!inst) throw this.err("InvalidInstanceId.NotFound", "no such instance", 404);
        if (inst.status === "Running" && p["Force"] !== "true") throw this.err("IncorrectInstanceStatus", "stop the instance or pass Force");
        await this.releaseInstance(inst);
        return {};
      }
      case "ecs:StopInstance": {
        const inst = this.instances.get(p["InstanceId"] ?? "");
        if (!inst) throw this.err("InvalidInstanceId.NotFound", "no such instance", 404);
        await this.powerOff(inst);
        return {};
      }
      case "ecs:StartInstance": {
        const inst = this.instances.get(p["InstanceId"] ?? "");
        if (!inst) throw this.err("InvalidInstanceId.NotFound", "no such instance", 404);
        if (inst.status !== "Stopped") throw this.err("IncorrectInstanceStatus", "the instance is not stopped");
        this.startUp(inst);
        return {};
      }
      case "ecs:ModifyInstanceAttribute": {
        const inst = this.instances.get(p["InstanceId"] ?? "");
        if (!inst) throw this.err("InvalidInstanceId.NotFound", "no such instance", 404);
        if (p["UserData"] !== undefined) {
          if (inst.status !== "Stopped") throw this.err("IncorrectInstanceStatus", "user data can be changed only on a stopped instance");
          if (Buffer.from(p["UserData"], "base64").length > 32 * 1024) throw this.err("InvalidUserData.SizeExceeded", "UserData must be at most 32 KB");
          inst.userData = p["UserData"];
        }
        return {};
      }
      case "ecs:GetInstanceConsoleOutput": {
        const inst = this.instances.get(p["InstanceId"] ?? "");
        if (!inst) throw this.err("InvalidInstanceId.NotFound", "no such instance", 404);
        const text = inst.console && existsSync(inst.console) ? readFileSync(inst.console) : Buffer.alloc(0);
        return { InstanceId: inst.id, ConsoleOutput: text.toString("base64") };
      }
      case "ecs:CreateDisk": {
        if (!this.zones(region).includes(p["ZoneId"] ?? "")) throw this.err("InvalidZoneId.NotFound", `zone ${p["ZoneId"]} is not in ${region}`, 404);
        const d = this.newDisk(region, Number(p["Size"]), "data", "", p["ZoneId"] ?? "", p["DiskName"] ?? "", false);
        return { DiskId: d.id };
      }
      case "ecs:AttachDisk": {
        const d = this.disks.get(p["DiskId"] ?? "");
        const inst = this.instances.get(p["InstanceId"] ?? "");
        if (!d || !inst) throw this.err("InvalidDiskId.NotFound", "no such disk or instance", 404);
        if (d.instanceId) throw this.err("IncorrectDiskStatus", "the disk is in use");
        if (d.zoneId !== inst.zoneId) throw this.err("InvalidDiskId.ZoneMismatch", "disk and instance are in different zones");
        d.instanceId = inst.id;
        d.deleteWithInstance = p["DeleteWithInstance"] === "true";
        return {};
      }
      case "ecs:DetachDisk": {
        const d = this.disks.get(p["DiskId"] ?? "");
        if (!d || d.instanceId !== p["InstanceId"]) throw this.err("InvalidDiskId.NotFound", "the disk is not attached to the instance", 404);
        d.instanceId = "";
        return {};
      }
      case "ecs:DeleteDisk": {
        const d = this.disks.get(p["DiskId"] ?? "");
        if (!d) throw this.err("InvalidDiskId.NotFound", "no such disk", 404);
        if (d.instanceId) throw this.err("IncorrectDiskStatus", "detach the disk first");
        rmSync(d.file, { force: true });
        this.disks.delete(d.id);
        return {};
      }
      case "ecs:DescribeDisks": {
        const ids = p["DiskIds"] ? (JSON.parse(p["DiskIds"]) as string[]) : null;
        const nameRe = p["DiskName"] ? new RegExp(`^${p["DiskName"].replace(/\*/g, ".*")}$`) : null;
        const rows = [...this.disks.values()]
          .filter((d) => here(d.id) && (!ids || ids.includes(d.id)) && (!p["InstanceId"] || d.instanceId === p["InstanceId"]) && (!nameRe || nameRe.test(d.name)))
          .map((d) => this.diskRow(d))
          .filter((d) => !p["Status"] || d["Status"] === p["Status"]);
        return { Disks: { Disk: rows }, TotalCount: rows.length };
      }
      case "ecs:ResizeDisk": {
        const d = this.disks.get(p["DiskId"] ?? "");
        if (!d) throw this.err("InvalidDiskId.NotFound", "no such disk", 404);
        const size = Number(p["NewSize"]);
        if (size <= d.size) throw this.err("InvalidDiskSize.TooSmall", "a disk can only grow");
        d.size = size;
        truncateSync(d.file, size * GiB);
        return {};
      }
      case "ecs:CreateSnapshot": {
        const d = this.disks.get(p["DiskId"] ?? "");
        if (!d) throw this.err("InvalidDiskId.NotFound", "no such disk", 404);
        const id = this.id("s");
        const file = join(this.options.dir, "disks", `${id}.snap`);
        const snap: Snapshot = { id, region: d.region, done: Promise.resolve(), accomplished: false, name: p["SnapshotName"] ?? "", diskId: d.id, diskType: d.type, diskSize: d.size, instanceId: d.instanceId, file, polled: false, tags: this.list(p, "Tag") };
        snap.done = this.track(
          d.ready
            .then(() => this.copy(d.file, file))
            .then(() => {
              snap.accomplished = true;
            }),
        );
        snap.done.catch(() => undefined);
        this.snapshots.set(id, snap);
        return { SnapshotId: id };
      }
      case "ecs:DescribeSnapshots": {
        const ids = p["SnapshotIds"] ? (JSON.parse(p["SnapshotIds"]) as string[]) : null;
        const rows = [...this.snapshots.values()].filter((s) => here(s.id) && (!ids || ids.includes(s.id)) && (!p["InstanceId"] || s.instanceId === p["InstanceId"]));
        const out = rows.map((s) => ({ SnapshotId: s.id, SnapshotName: s.name, SourceDiskId: s.diskId, SourceDiskType: s.diskType, SourceDiskSize: String(s.diskSize), Status: s.polled && s.accomplished ? "accomplished" : "progressing", Progress: s.polled && s.accomplished ? "100%" : "50%" }));
        for (const s of rows) s.polled = true;
        return { Snapshots: { Snapshot: out }, TotalCount: out.length };
      }
      case "ecs:DeleteSnapshot": {
        const s = this.snapshots.get(p["SnapshotId"] ?? "");
        if (!s) throw this.err("InvalidSnapshotId.NotFound", "no such snapshot", 404);
        if ([...this.images.values()].some((i) => i.mappings.some((m) => m.snapshotId === s.id))) throw this.err("SnapshotCreatedImage", "an image was made from this snapshot; delete the image first");
        rmSync(s.file, { force: true });
        this.snapshots.delete(s.id);
        return {};
      }
      case "ecs:CreateImage":
        return this.createImage(p);
      case "ecs:DeleteImage": {
        const i = this.images.get(p["ImageId"] ?? "");
        if (i?.owner !== "self") throw this.err("InvalidImageId.NotFound", "no such image", 404);
        if ([...this.instances.values()].some((x) => x.imageId === i.id) && p["Force"] !== "true") throw this.err("ImageUsedByInstance", "instances use the image");
        this.images.delete(i.id);
        return {};
      }
      case "ecs:TagResources": {
        if (p["ResourceType"] !== "image") throw this.err("InvalidResourceType", "this fake tags images only");
        const tags = this.list(p, "Tag");
        for (let n = 1; p[`ResourceId.${n}`]; n++) {
          const i = this.images.get(p[`ResourceId.${n}`] ?? "");
          if (!i) throw this.err("InvalidResourceId.NotFound", "no such image", 404);
          for (const t of tags) i.tags = [...i.tags.filter((x) => x["Key"] !== t["Key"]), t];
        }
        return {};
      }
      case "ecs:ExportImage": {
        const i = this.images.get(p["ImageId"] ?? "");
        const b = this.buckets.get(p["OSSBucket"] ?? "");
        if (!i) throw this.err("InvalidImageId.NotFound", "no such image", 404);
        if (!b) throw this.err("InvalidOSSBucket.NotFound", "no such bucket", 404);
        if (b.region !== region) throw this.err("InvalidOSSBucket.RegionMismatch", "the bucket is in another region");
        const format = (p["ImageFormat"] ?? "RAW").toLowerCase();
        if (!EXPORT_FORMATS.includes(format)) throw this.err("InvalidImageFormat.Malformed", `ImageFormat ${p["ImageFormat"]} is not one of ${EXPORT_FORMATS.join(", ")}`);
        // ImageFormat is honoured only in some regions; elsewhere the export is RAW.
        const ext = EXPORT_FORMAT_REGIONS.includes(region) ? format : "raw";
        const task = { status: "Processing", polled: false };
        const writes = i.mappings.map(async (m, n) => {
          const key = `${p["OSSPrefix"] ?? ""}${i.name}_${m.type === "system" ? "system" : `data_${n}`}.${ext}`;
          const file = join(this.options.dir, "oss", p["OSSBucket"] ?? "", randomBytes(6).toString("hex"));
          const snap = this.snapshots.get(m.snapshotId);
          const from = snap ? await this.snapshotFile(snap) : "/dev/null";
          if (ext === "raw") await this.copy(from, file);
          else await this.convert(from, ext, file);
          b.objects.set(key, file);
        });
        this.track(Promise.all(writes).then(() => undefined)).then(
          () => {
            task.status = "Finished";
          },
          () => {
            task.status = "Failed";
          },
        );
        const taskId = this.id("t");
        this.tasks.set(taskId, task);
        return { TaskId: taskId, RegionId: region };
      }
      case "ecs:DescribeTaskAttribute": {
        const t = this.tasks.get(p["TaskId"] ?? "");
        if (!t) throw this.err("InvalidTaskId.NotFound", "no such task", 404);
        const status = t.polled || t.status !== "Finished" ? t.status : "Processing";
        t.polled = true;
        return { TaskId: p["TaskId"], TaskStatus: status, TaskAction: "ExportImage" };
      }
      case "ecs:ReplaceSystemDisk": {
        const inst = this.instances.get(p["InstanceId"] ?? "");
        const image = this.images.get(p["ImageId"] ?? "");
        if (!inst || !image) throw this.err("InvalidParameter", "no such instance or image", 404);
        if (inst.status !== "Stopped") throw this.err("IncorrectInstanceStatus", "stop the instance first");
        const sys = [...this.disks.values()].find((d) => d.instanceId === inst.id && d.type === "system");
        const snap = this.snapshots.get(image.mappings.find((m) => m.type === "system")?.snapshotId ?? "");
        if (!snap) throw this.err("InvalidImageId.NoSystemSnapshot", "the image has no system snapshot");
        if (sys) {
          rmSync(sys.file, { force: true });
          this.disks.delete(sys.id);
        }
        this.newDisk(inst.region, Math.max(Number(p["SystemDisk.Size"] ?? 0), snap.diskSize), "system", inst.id, inst.zoneId, "system", true, this.snapshotFile(snap));
        inst.imageId = image.id;
        return { DiskId: "replaced" };
      }
      case "ecs:ResetDisk": {
        const d = this.disks.get(p["DiskId"] ?? "");
        const s = this.snapshots.get(p["SnapshotId"] ?? "");
        if (!d || !s || s.diskId !== d.id) throw this.err("InvalidSnapshotId.NotFound", "the snapshot is not of this disk", 404);
        const inst = this.instances.get(d.instanceId);
        if (inst && inst.status !== "Stopped") throw this.err("IncorrectInstanceStatus", "stop the instance first");
        d.ready = this.track(this.snapshotFile(s).then((file) => this.copy(file, d.file)));
        d.ready.catch(() => undefined);
        return {};
      }
      case "ens:ImportImage": {
        if (p["ComputeType"] !== "ens_vm") throw this.err("InvalidParameter.ComputeType", "ComputeType must be ens_vm");
        if (p["OSType"] !== "linux") throw this.err("InvalidParameter.OSType", "only linux images can be imported");
        if (p["Architecture"] !== "x86_64") throw this.err("InvalidParameter.Architecture", "only x86_64 images can be imported");
        if (!["qcow2", "raw"].includes(p["ImageFormat"] ?? "")) throw this.err("InvalidParameter.ImageFormat", `ImageFormat ${p["ImageFormat"]} is not qcow2 or raw`);
        const mappings = this.entries(p, "DiskDeviceMapping");
        const sources: Record<string, string | undefined>[] = [{ OSSRegion: p["OSSRegion"], OSSBucket: p["OSSBucket"], OSSObject: p["OSSObject"] }, ...mappings];
        for (const m of sources) {
          const b = this.buckets.get(m["OSSBucket"] ?? "");
          const file = b?.objects.get(m["OSSObject"] ?? "");
          if (!b || !file) throw this.err("InvalidOSSObject.NotFound", `the object ${m["OSSObject"]} does not exist`, 404);
          if (b.region !== m["OSSRegion"]) throw this.err("InvalidOSSRegion", "the bucket is not in OSSRegion");
          if (m !== sources[0] && m["TargetOSSRegionId"] !== p["RegionId"]) throw this.err("InvalidParameter.TargetOSSRegionId", "TargetOSSRegionId must be the region the image is imported into");
          const declared = (/\.qcow2$/.test(m["OSSObject"] ?? "") ? "qcow2" : "raw") === p["ImageFormat"];
          if (!declared || this.formatOf(file) !== p["ImageFormat"]) throw this.err("InvalidParameter.ImageFormat", `${m["OSSObject"]} is not ${p["ImageFormat"]}`);
        }
        if (mappings.length && mappings[0]?.["OSSObject"] !== p["OSSObject"]) throw this.err("InvalidParameter.DiskDeviceMapping", "the first disk mapping must be the system disk");
        const id = this.id("m");
        const disks = (mappings.length ? mappings : sources).map((m) => m["OSSObject"] ?? "");
        this.ensImages.set(id, { ImageId: id, ImageName: p["ImageName"], Status: "Creating", OSType: p["OSType"], RegionId: p["RegionId"], ImageFormat: p["ImageFormat"], disks, polled: false });
        return { ImageId: id };
      }
      case "ens:DescribeImages": {
        const rows = [...this.ensImages.values()].filter((i) => (!p["ImageId"] || i["ImageId"] === p["ImageId"]) && (!p["ImageName"] || i["ImageName"] === p["ImageName"]));
        const out = rows.map(({ polled, disks, ...i }) => ({ ...i, Status: polled ? "Available" : i["Status"] }));
        for (const r of rows) r.polled = true;
        return { Images: { Image: out }, TotalCount: out.length };
      }
      default:
        throw this.err("InvalidAction.NotFound", `${key} is not in this fake`, 404);
    }
  }

  private async runInstances(p: Record<string, string>): Promise<Rec> {
    const region = p["RegionId"] ?? this.region;
    const image = this.images.get(p["ImageId"] ?? "");
    if (!image) throw this.err("InvalidImageId.NotFound", "no such image", 404);
    const sw = this.vswitches.get(p["VSwitchId"] ?? "");
    if (!sw) throw this.err("InvalidVSwitchId.NotFound", "no such vSwitch", 404);
    if (!this.securityGroups.has(p["SecurityGroupId"] ?? "")) throw this.err("InvalidSecurityGroupId.NotFound", "no such security group", 404);
    if ((this.options.outOfStock ?? []).includes(p["InstanceType"] ?? "")) throw this.err("OperationDenied.NoStock", "The requested resource is sold out in the specified zone; try other types of resources or other regions and zones.", 403);
    if (p["UserData"] && Buffer.from(p["UserData"], "base64").length > 32 * 1024) throw this.err("InvalidUserData.SizeExceeded", "UserData must be at most 32 KB");
    const id = this.id("i");
    const publicIp = Number(p["InternetMaxBandwidthOut"] ?? 0) > 0 ? this.loopbackIp() : "";
    const cidr = String(sw["CidrBlock"] ?? "192.168.0.0/24").split("/")[0]!.split(".");
    const privateIp = publicIp ? `${cidr[0]}.${cidr[1]}.${cidr[2]}.${sw.nextIp++}` : this.loopbackIp();
    const inst: Instance = {
      id,
      region,
      name: p["InstanceName"] ?? id,
      type: p["InstanceType"] ?? "",
      zoneId: String(sw["ZoneId"]),
      imageId: image.id,
      vSwitchId: String(sw["VSwitchId"]),
      vpcId: String(sw["VpcId"]),
      securityGroupId: p["SecurityGroupId"] ?? "",
      status: "Pending",
      publicIp,
      privateIp,
      userData: p["UserData"] ?? "",
      osType: image.osType,
      stateDir: join(this.options.dir, "instances", id),
      console: "",
      qemu: null,
      starting: null,
      tags: this.list(p, "Tag"),
    };
    this.instances.set(id, inst);
    if (image.owner === "self") {
      for (const m of image.mappings) {
        const snap = this.snapshots.get(m.snapshotId);
        this.newDisk(region, m.size, m.type, id, inst.zoneId, m.type === "system" ? "system" : `data-${m.snapshotId}`, true, snap ? this.snapshotFile(snap) : undefined);
      }
    } else this.newDisk(region, Number(p["SystemDisk.Size"] ?? 40), "system", id, inst.zoneId, "system", true);
    this.startUp(inst);
    return { InstanceIdSets: { InstanceIdSet: [id] } };
  }

  private createImage(p: Record<string, string>): Rec {
    if (!p["ImageName"]) throw this.err("MissingImageName", "ImageName is mandatory here");
    if ([...this.images.values()].some((i) => i.name === p["ImageName"] && i.owner === "self" && i.region === p["RegionId"])) throw this.err("InvalidImageName.Duplicated", "an image with this name exists");
    const mappings: Image["mappings"] = [];
    const listed = this.list(p, "DiskDeviceMapping");
    const sources = listed.length ? listed : p["SnapshotId"] ? [{ SnapshotId: p["SnapshotId"], DiskType: "system" }] : [];
    if (sources.length === 0) throw this.err("InvalidParameter", "give SnapshotId, DiskDeviceMapping or InstanceId");
    for (const m of sources) {
      const s = this.snapshots.get(String(m["SnapshotId"] ?? ""));
      if (!s) throw this.err("InvalidSnapshotId.NotFound", `no snapshot ${String(m["SnapshotId"])}`, 404);
      mappings.push({ snapshotId: s.id, size: Math.max(Number(m["Size"] ?? 0), s.diskSize), type: m["DiskType"] === "data" ? "data" : "system" });
    }
    if (mappings.filter((m) => m.type === "system").length !== 1) throw this.err("InvalidParameter.DiskDeviceMapping", "exactly one system disk is needed");
    const id = this.id("m");
    this.images.set(id, {
      id,
      region: p["RegionId"] ?? this.region,
      name: p["ImageName"],
      owner: "self",
      status: "Creating",
      osType: "linux",
      platform: p["Platform"] ?? "Others Linux",
      bootMode: p["BootMode"] ?? "BIOS",
      architecture: p["Architecture"] ?? "x86_64",
      created: new Date().toISOString(),
      mappings,
      tags: this.list(p, "Tag"),
    });
    return { ImageId: id };
  }

  private async releaseInstance(inst: Instance): Promise<void> {
    await this.powerOff(inst);
    for (const d of [...this.disks.values()]) {
      if (d.instanceId !== inst.id) continue;
      if (d.deleteWithInstance || d.type === "system") {
        rmSync(d.file, { force: true });
        this.disks.delete(d.id);
      } else d.instanceId = "";
    }
    rmSync(inst.stateDir, { recursive: true, force: true });
    this.instances.delete(inst.id);
  }

  /** Releases an instance behind Hoist's back, as a user clicking Release in the console would. */
  async releaseByHand(instanceId: string): Promise<void> {
    const inst = this.instances.get(instanceId);
    if (inst) await this.releaseInstance(inst);
  }
}

export async function startAlibabaContractFake(options: StartFakeOptions): Promise<AlibabaContractFake> {
  return new AlibabaContractFake(options).start();
}

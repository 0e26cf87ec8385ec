// Calls to Alibaba Cloud through its official SDK clients only: the ECS and
// VPC product clients, the OpenAPI core client for ENS (which has no product
// package) and the OSS client. The SDK signs every request; this file adds
// the endpoints (overridable, so a contract fake can stand in), throttling
// retries with backoff, and the mapping of error codes to Hoist errors.
import { randomBytes } from "node:crypto";
import { HoistError } from "@hoist/protocol";
import { type Logger, silentLogger } from "@hoist/runtime";
import type { AlibabaCredentials } from "./credentials";
import { apiFailure, backoffMs, DEFAULT_RETRY, isTransient, type RetryPolicy, toHoistError } from "./errors";

/** The SDK packages are CommonJS with `exports.default`; Node's ESM loader wraps them once more. */
function cjsDefault<T>(mod: unknown): T {
  const outer = (mod as { default?: unknown }).default ?? mod;
  return ((outer as { default?: unknown }).default ?? outer) as T;
}

type RpcParams = Record<string, unknown>;
export type RpcResult = Record<string, unknown>;

interface CoreClient {
  callApi(params: unknown, request: unknown, runtime: unknown): Promise<{ body?: unknown }>;
}

const VERSIONS = { ecs: "2014-05-26", vpc: "2016-04-28", ens: "2017-11-10" } as const;

/**
 * Actions that make something and take a ClientToken: each call gets one, kept across its retries,
 * so a request sent again after a timeout (it may have been carried out) makes nothing twice.
 */
const WITH_CLIENT_TOKEN = new Set(["RunInstances", "CreateDisk", "CreateSnapshot", "CreateImage", "CreateSecurityGroup", "CreateVpc", "CreateVSwitch"]);
export type RpcProduct = keyof typeof VERSIONS;

export interface ApiOptions {
  credentials: AlibabaCredentials;
  regionId: string;
  /** One endpoint for every product ("http://127.0.0.1:8000" for a contract fake), or none for Alibaba Cloud's own. */
  endpointOverride?: string;
  retry?: RetryPolicy;
  logger?: Logger;
  /** Wait between retries (tests make it instant). */
  sleep?: (ms: number) => Promise<void>;
}

export interface AlibabaApi {
  readonly regionId: string;
  rpc(product: RpcProduct, action: string, params?: RpcParams, regionId?: string): Promise<RpcResult>;
  ossBucketRegion(bucket: string, regionId: string): Promise<string>;
  ossDeleteObject(bucket: string, key: string, regionId: string): Promise<void>;
  ossListObjects(bucket: string, prefix: string, regionId: string): Promise<string[]>;
}

function parseOverride(url: string): { protocol: string; endpoint: string } {
  const m = /^(https?):\/\/([^/]+)\/?$/.exec(url);
  if (!m) throw new HoistError("Config.InvalidEndpoint", `--endpoint-override ${url} is not http(s)://host[:port]`);
  return { protocol: m[1] ?? "https", endpoint: m[2] ?? "" };
}

function defaultEndpoint(product: RpcProduct | "oss", regionId: string): string {
  if (product === "ens") return "ens.aliyuncs.com";
  if (product === "oss") return `oss-${regionId}.aliyuncs.com`;
  return `${product}.${regionId}.aliyuncs.com`;
}

interface Sdk {
  ecsModule: unknown;
  openapiClientModule: unknown;
  openapiCoreModule: unknown;
  ossModule: unknown;
  vpcModule: unknown;
}

let sdkLoading: Promise<Sdk> | undefined;

/**
 * The Alibaba Cloud SDK, loaded on the first API call: it is most of the CLI bundle's startup
 * memory, and every process that never calls Alibaba Cloud (an agent, a receiver, a local server)
 * would otherwise carry it and mark it in every full garbage collection.
 */
function sdk(): Promise<Sdk> {
  sdkLoading ??= Promise.all([import("@alicloud/ecs20140526"), import("@alicloud/openapi-client"), import("@alicloud/openapi-core"), import("@alicloud/oss20190517"), import("@alicloud/vpc20160428")]).then(
    ([ecsModule, openapiClientModule, openapiCoreModule, ossModule, vpcModule]) => ({ ecsModule, openapiClientModule, openapiCoreModule, ossModule, vpcModule }),
  );
  return sdkLoading;
}

type Core = { $OpenApiUtil: { Config: new (m: object) => object; OpenApiRequest: new (m: object) => object; Params: new (m: object) => object }; OpenApiUtil: { query(m: object): object } };

export function createAlibabaApi(options: ApiOptions): AlibabaApi {
  const log = options.logger ?? silentLogger;
  const retry = options.retry ?? DEFAULT_RETRY;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const override = options.endpointOverride ? parseOverride(options.endpointOverride) : null;
  const creds = options.credentials;
  const clients = new Map<string, CoreClient>();
  const darabonbaRuntime = () => ({});

  function config(product: RpcProduct | "oss", regionId: string, extra: object = {}): Record<string, unknown> {
    return {
      accessKeyId: creds.accessKeyId,
      accessKeySecret: creds.accessKeySecret,
      ...(creds.securityToken ? { securityToken: creds.securityToken } : {}),
      regionId,
      endpoint: override?.endpoint ?? defaultEndpoint(product, regionId),
      protocol: override?.protocol ?? "https",
      readTimeout: 60_000,
      connectTimeout: 10_000,
      ...extra,
    };
  }

  function client(product: RpcProduct, regionId: string, { ecsModule, vpcModule, openapiCoreModule }: Sdk): CoreClient {
    const key = `${product}:${regionId}`;
    let c = clients.get(key);
    if (!c) {
      const core = openapiCoreModule as Core;
      const cfg = new core.$OpenApiUtil.Config(config(product, regionId));
      const Ctor =
        product === "ecs"
          ? cjsDefault<new (c: object) => CoreClient>(ecsModule)
          : product === "vpc"
            ? cjsDefault<new (c: object) => CoreClient>(vpcModule)
            : cjsDefault<new (c: object) => CoreClient>(openapiCoreModule);
      c = new Ctor(cfg);
      clients.set(key, c);
    }
    return c;
  }

  async function withRetry<T>(product: string, action: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (e instanceof HoistError) throw e;
        const failure = apiFailure(product, action, e);
        if (isTransient(failure) && attempt + 1 < retry.attempts) {
          const wait = backoffMs(retry, attempt);
          log.warn("Alibaba Cloud API throttled or unavailable; retrying", { product, action, code: failure.code, attempt: attempt + 1, waitMs: wait });
          await sleep(wait);
          continue;
        }
        log.warn("Alibaba Cloud API call failed", { product, action, code: failure.code, requestId: failure.requestId });
        throw toHoistError(failure);
      }
    }
  }

  return {
    regionId: options.regionId,

    async rpc(product, action, params = {}, regionId = options.regionId) {
      const loaded = await sdk();
      const core = loaded.openapiCoreModule as Core;
      const c = client(product, regionId, loaded);
      const token = WITH_CLIENT_TOKEN.has(action) && params["ClientToken"] === undefined ? { ClientToken: randomBytes(16).toString("hex") } : {};
      const query = core.OpenApiUtil.query({ RegionId: regionId, ...token, ...params });
      const request = new core.$OpenApiUtil.OpenApiRequest({ query });
      const p = new core.$OpenApiUtil.Params({
        action,
        version: VERSIONS[product],
        protocol: "HTTPS",
        pathname: "/",
        method: "POST",
        authType: "AK",
        style: "RPC",
        reqBodyType: "formData",
        bodyType: "json",
      });
      log.debug("Alibaba Cloud API call", { product, action, regionId });
      const res = await withRetry(product, action, () => c.callApi(p, request, darabonbaRuntime()));
      return (res.body ?? {}) as RpcResult;
    },

    async ossBucketRegion(bucket, regionId) {
      const oss = await ossClient(regionId);
      const res = await withRetry("oss", "GetBucketInfo", () => oss.getBucketInfo(bucket));
      const info = res.body?.bucket;
      return info?.region ?? (info?.location ?? "").replace(/^oss-/, "");
    },

    async ossDeleteObject(bucket, key, regionId) {
      const oss = (await sdk()).ossModule as { DeleteObjectRequest: new (m: object) => object };
      const c = await ossClient(regionId);
      await withRetry("oss", "DeleteObject", () => c.deleteObject(bucket, key, new oss.DeleteObjectRequest({})));
    },

    async ossListObjects(bucket, prefix, regionId) {
      const oss = (await sdk()).ossModule as { ListObjectsV2Request: new (m: object) => object };
      const c = await ossClient(regionId);
      const res = await withRetry("oss", "ListObjectsV2", () => c.listObjectsV2(bucket, new oss.ListObjectsV2Request({ prefix, maxKeys: 100 })));
      return (res.body?.contents ?? []).map((c) => c.key ?? "").filter(Boolean);
    },
  };

  async function ossClient(regionId: string): Promise<{
    listObjectsV2(bucket: string, request: object): Promise<{ body?: { contents?: { key?: string }[] } }>;
    getBucketInfo(bucket: string): Promise<{ body?: { bucket?: { region?: string; location?: string } } }>;
    deleteObject(bucket: string, key: string, request: object): Promise<unknown>;
  }> {
    const { openapiClientModule, ossModule } = await sdk();
    const Cfg = (openapiClientModule as { Config: new (m: object) => object }).Config;
    const Ctor = cjsDefault<new (c: object) => Awaited<ReturnType<typeof ossClient>>>(ossModule);
    // A single override endpoint has no per-bucket host names: address buckets by path.
    return new Ctor(new Cfg(config("oss", regionId, override ? { endpointType: "ip" } : {})));
  }
}

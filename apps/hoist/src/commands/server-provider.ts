// Where `hoist server` runs replication jobs: the local provider (receiver
// processes on this host, the image store, QEMU) or Alibaba Cloud, where each
// job's own RegionId, NetMode, VpcId, VSwitchId and InstanceType decide the
// region and network its intermediate instance, disks and image go to. The
// AccessKey comes from the environment or a credentials file that only its
// owner can read; it is kept in memory and redacted from the log.
import { HoistError } from "@hoist/protocol";
import { createAlibabaProvider, createLocalProvider, type Provider, resolveCredentials } from "@hoist/providers";
import type { Logger } from "@hoist/runtime";
import { type Command, Option } from "commander";
import { httpUrl, shown } from "./flag-values";

export interface ServerProviderFlags {
  provider: "local" | "alibaba";
  region?: string;
  credentialsFile?: string;
  receiverBundleUrl?: string;
  receiverPorts?: { control: number; data: number };
  endpointOverride?: string;
  imageStore?: string;
}


function providerName(value: string): "local" | "alibaba" {
  if (value !== "local" && value !== "alibaba") throw new HoistError("Config.InvalidProvider", `--provider must be local or alibaba (got ${shown(value)})`, { fix: "Pass --provider local or --provider alibaba." });
  return value;
}

function regionId(value: string): string {
  if (!/^[a-z][a-z0-9-]{0,63}$/.test(value)) throw new HoistError("Config.InvalidRegion", `--region must be a region id such as cn-hangzhou or local (got ${shown(value)})`, { fix: "Pass --region with a region id." });
  return value;
}

function receiverPorts(value: string): { control: number; data: number } {
  const m = /^(\d{1,5}),(\d{1,5})$/.exec(value);
  const [control, data] = [Number(m?.[1]), Number(m?.[2])];
  if (!m || control < 1 || control > 65535 || data < 1 || data > 65535 || control === data) {
    throw new HoistError("Config.InvalidReceiverPorts", `--receiver-ports must be CONTROL,DATA: two different ports 1–65535 (got ${shown(value)})`, { fix: "Pass e.g. --receiver-ports 8080,8703." });
  }
  return { control, data };
}

function credentialsFile(value: string): string {
  if (value.trim() === "" || value.length > 4096 || /[\u0000-\u001f]/.test(value)) throw new HoistError("Config.InvalidCredentialsFile", `--credentials-file must name a file (got ${shown(value)})`, { fix: "Pass the path of an INI file with access_key_id and access_key_secret in [default], mode 0600." });
  return value;
}

export function addServerProviderOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--provider <name>", "where replication jobs run: local (receiver processes on this host) or alibaba (Alibaba Cloud, in each job's RegionId)").argParser(providerName).default("local"))
    .option("--region <id>", "region of jobs that name no RegionId (default: local for the local provider, cn-hangzhou for alibaba)", regionId)
    .option(
      "--credentials-file <file>",
      "--provider alibaba: AccessKey file (INI, [default] access_key_id/access_key_secret, mode 0600; default: ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET from the environment, else $ALIBABA_CLOUD_CREDENTIALS_FILE or ~/.alibabacloud/credentials)",
      credentialsFile,
    )
    .option("--receiver-bundle-url <url>", "--provider alibaba: where intermediate instances download hoist.mjs (default $HOIST_BUNDLE_URL)", httpUrl("--receiver-bundle-url", "Config.InvalidReceiverBundleUrl"))
    .option("--receiver-ports <control,data>", "--provider alibaba: receiver ports on intermediate instances, opened in their security group (default 8080,8703)", receiverPorts)
    .addOption(new Option("--endpoint-override <url>", "send every Alibaba Cloud API call to this http(s)://host[:port] (a test double or a proxy)").argParser(httpUrl("--endpoint-override", "Config.InvalidEndpointOverride", { base: true })).hideHelp());
}

/** The region of jobs that name none. */
export function defaultRegion(flags: ServerProviderFlags): string {
  return flags.region ?? (flags.provider === "alibaba" ? "cn-hangzhou" : "local");
}

/** The provider the flags name, checked whole before the server starts. */
export function serverProvider(flags: ServerProviderFlags, logger: Logger & { addSecret(secret: string): void }): Provider {
  if (flags.provider === "local") {
    for (const [set, flag] of [
      [flags.credentialsFile, "--credentials-file"],
      [flags.receiverBundleUrl, "--receiver-bundle-url"],
      [flags.receiverPorts, "--receiver-ports"],
      [flags.endpointOverride, "--endpoint-override"],
    ] as const) {
      if (set !== undefined) throw new HoistError("Config.FlagNeedsProvider", `${flag} is for --provider alibaba`, { fix: `Add --provider alibaba, or leave ${flag} out.` });
    }
    return createLocalProvider({ logger, ...(flags.imageStore ? { imageStore: flags.imageStore } : {}) });
  }
  const region = defaultRegion(flags);
  if (region === "local") throw new HoistError("Config.InvalidRegion", "--region local is the local provider's; Alibaba Cloud jobs need a region id such as cn-hangzhou", { fix: "Pass --region cn-hangzhou (or another Alibaba Cloud region), or leave it out." });
  const envBundleUrl = process.env["HOIST_BUNDLE_URL"];
  const bundleUrl = flags.receiverBundleUrl ?? (envBundleUrl ? httpUrl("HOIST_BUNDLE_URL", "Config.InvalidReceiverBundleUrl")(envBundleUrl) : undefined);
  if (!bundleUrl) {
    throw new HoistError("Config.NoReceiverBundle", "--provider alibaba needs a URL the intermediate instances download hoist.mjs from", {
      fix: "Put apps/hoist/dist/hoist.mjs where instances can fetch it (an OSS object with a signed URL, a web server) and pass --receiver-bundle-url or set HOIST_BUNDLE_URL.",
    });
  }
  const credentials = resolveCredentials(flags.credentialsFile ? { file: flags.credentialsFile, env: {} } : {});
  logger.addSecret(credentials.accessKeySecret);
  if (credentials.securityToken) logger.addSecret(credentials.securityToken);
  logger.info("Alibaba Cloud provider", { region, credentials: credentials.source });
  const poll = Number(process.env["HOIST_ALIBABA_POLL_MS"] ?? "");
  return createAlibabaProvider({
    credentials,
    regionId: region,
    receiverBundleUrl: bundleUrl,
    ...(flags.receiverPorts ? { receiverPorts: flags.receiverPorts } : {}),
    ...(flags.endpointOverride ? { endpointOverride: flags.endpointOverride } : {}),
    ...(Number.isInteger(poll) && poll > 0 ? { pollIntervalMs: poll } : {}),
    logger,
  });
}

// Bad values for every flag and argument of every `hoist` subcommand, run
// in-process through the same entry as the executable (runCli and
// reportCliError), against a real `hoist server` for the commands that call
// it. The list of flags comes from the command tree itself: a flag or argument
// added without bad values here fails the first test. Each bad value must end
// in a non-zero exit with its stable code on stderr and a message naming the
// flag, and change nothing: no file appears or changes under the test's
// folders, and the server's sources, jobs, codes and images stay as they were.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Database, RunningServer } from "@hoist/server";
import type { Command, Option } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startInProcessServer } from "../../../test/helpers/api-server";
import { debianInventory } from "../../../test/helpers/inventory";
import { createProgram, reportCliError, runCli } from "./program";

const API_KEY = "hk_cli-bad-input-0123456789abcdefghijklmnop";
const HUGE = "x".repeat(100_000); // Linux takes at most 128 KiB in one argument.
const LATIN1 = "caf\ufffd"; // "café" in Latin-1 bytes, as Node decodes a non-UTF-8 argument.

const base = mkdtempSync("/var/tmp/hoist-cli-bad-input-");
const dir = {
  workdir: join(base, "work"),
  source: join(base, "source"),
  store: join(base, "images"),
  file: join(base, "a-file.txt"),
  cert: join(base, "cert.pem"),
  key: join(base, "key.pem"),
  garbage: join(base, "garbage.pem"),
  garbage600: join(base, "garbage-0600.ini"),
};
let server: RunningServer;
let db: Database;
let sourceId = "";
let jobId = "";

// --- Running hoist in-process.

interface Run {
  status: number;
  stderr: string;
  stdout: string;
}

async function hoist(args: string[], timeoutMs = 20_000): Promise<Run> {
  let stderr = "";
  let stdout = "";
  const output = {
    writeOut: (s: string) => {
      stdout += s;
    },
    writeErr: (s: string) => {
      stderr += s;
    },
  };
  const realWrite = process.stdout.write.bind(process.stdout);
  const exitBefore = process.exitCode;
  process.exitCode = undefined;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  let status = 0;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      runCli(["node", "hoist", ...args], { output }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs / 1000} s`)), timeoutMs);
      }),
    ]);
  } catch (e) {
    status = reportCliError(e, { write: output.writeErr });
  } finally {
    clearTimeout(timer);
    process.stdout.write = realWrite;
  }
  const exit = Number(process.exitCode ?? 0);
  process.exitCode = exitBefore;
  return { status: status || exit, stderr, stdout };
}

/** Names and sizes of everything under the test's folder, and what the server lists. */
async function state(withServer: boolean): Promise<string> {
  const files = (readdirSync(base, { recursive: true, encoding: "utf8" }) as string[])
    .sort()
    .map((f) => {
      const st = statSync(join(base, f));
      return `${f} ${st.isDirectory() ? "dir" : st.size}`;
    });
  if (!withServer) return files.join("\n");
  const lists = await Promise.all(
    ["/v1/sources", "/v1/jobs", "/v1/activation-codes", "/v1/images"].map(async (p) => (await fetch(`${server.url}${p}`, { headers: { authorization: `Bearer ${API_KEY}` } })).text()),
  );
  return [...files, ...lists].join("\n");
}

// --- What each command needs besides the flag under test.

const api = (): string[] => ["--server", server.url, "--api-key", API_KEY];

interface CommandBase {
  /** Arguments that make the command valid (the flag under test replaces its own value here). */
  args: () => string[];
  /** It calls hoist server. */
  server?: boolean;
  /** What the untouched base answers: exit 0, or the code it ends with (a lookup of something absent). Leave out for commands that keep running. */
  accepted?: "ok" | string;
}

const BASES: Record<string, CommandBase> = {
  // --abort stops before anything would run, yet after every setting was checked.
  migrate: { args: () => ["--workdir", dir.workdir, "--source-root", dir.source, "--noenterkey", "--abort"], accepted: "ok" },
  check: { args: () => ["--source-root", dir.source, "--workdir", dir.workdir, "--json"] },
  receiver: { args: () => ["--state-dir", join(base, "receiver-state"), "--listen", "127.0.0.1", "--control-port", "0", "--data-port", "0"] },
  "image list": { args: () => ["--image-store", dir.store], accepted: "ok" },
  "image rm": { args: () => ["no-such-image", "--image-store", dir.store], accepted: "Image.NotFound" },
  "image export": { args: () => ["no-such-image", "--format", "raw", "--output", join(base, "export.raw"), "--image-store", dir.store], accepted: "Image.NotFound" },
  "image verify": { args: () => ["no-such-image", "--timeout", "60", "--image-store", dir.store], accepted: "Image.NotFound" },
  "image check": { args: () => ["no-such-image", "--image-store", dir.store], accepted: "Image.NotFound" },
  server: { args: () => ["--data-dir", join(base, "server-data"), "--listen", "127.0.0.1", "--port", "0"] },
  agent: { args: () => ["--abort", "--state-dir", join(base, "agent-state"), "--server", server.url, "--source-root", dir.source], accepted: "Agent.NotRunning" },
  "codes create": { args: () => [...api(), "--uses", "5"], server: true },
  "codes list": { args: api, server: true, accepted: "ok" },
  "sources list": { args: api, server: true, accepted: "ok" },
  "sources show": { args: () => [sourceId, ...api()], server: true, accepted: "ok" },
  "sources rm": { args: () => ["s-none", ...api()], server: true, accepted: "SourceServer.NotFound" },
  // The source already has a job: a create that passes every check ends there, changing nothing.
  "jobs create": { args: () => ["--source", sourceId, ...api()], server: true, accepted: "ReplicationJob.SourceBusy" },
  "jobs list": { args: api, server: true, accepted: "ok" },
  "jobs show": { args: () => [jobId, ...api()], server: true, accepted: "ok" },
  "jobs start": { args: () => ["j-none", ...api()], server: true, accepted: "ReplicationJob.NotFound" },
  "jobs stop": { args: () => ["j-none", ...api()], server: true, accepted: "ReplicationJob.NotFound" },
  "jobs retry": { args: () => ["j-none", ...api()], server: true, accepted: "ReplicationJob.NotFound" },
  "jobs cancel": { args: () => ["j-none", ...api()], server: true, accepted: "ReplicationJob.NotFound" },
  "jobs rm": { args: () => ["j-none", ...api()], server: true, accepted: "ReplicationJob.NotFound" },
  "jobs modify": { args: () => ["j-none", "--description", "d", ...api()], server: true, accepted: "ReplicationJob.NotFound" },
  "jobs watch": { args: () => [jobId, "--until", "Ready", ...api()], server: true, accepted: "ok" },
  "images list": { args: api, server: true, accepted: "ok" },
};

// --- Bad values, by the kind of value a flag takes: [value, the code that must answer].

type Bad = [value: string, code: string];
const all = (code: string, values: string[]): Bad[] => values.map((v) => [v, code]);

/** Plain decimal digits in [min, max], checked by the CLI. */
const digits = (code: string, min: number, max: number): Bad[] =>
  all(code, ["", "abc", "-1", "1.5", "1e3", "0x10", " 5", "99999999999999999999", ...(min > 0 ? [String(min - 1)] : []), String(max + 1)]);
/** A number whose syntax the CLI checks and whose range the server does (hoist jobs, hoist codes). */
const serverNumber = (rangeCode: string, min: number, max: number, fractions = false): Bad[] => [
  ...all("Config.InvalidNumber", ["", "abc", "1e3", "0x10", "12G"]),
  ...all(rangeCode, [String(min - 1), String(max + 1), "99999999999999999999", ...(fractions ? ["1.5"] : [])]),
  ...(fractions ? [] : all("Config.InvalidNumber", ["1.5"])),
];
/** A number of a user_config.json field given as a flag (reported among the settings' problems). */
const settingNumber = (code: string, min: number, max: number): Bad[] => all(code, ["", "abc", "1.5", "1e3", "0x10", String(min - 1), String(max + 1), "9".repeat(30)]);
const choices = (values: string[]): Bad[] => all("Cli.InvalidArguments", values);
const missingPath = (code: string): Bad[] => all(code, ["", "/nonexistent/hoist-bad-input", "a\u0001b"]);
const folder = (code: string): Bad[] => [...missingPath(code), [dir.file, code]];
const newFolder = (code: string): Bad[] => all(code, ["", dir.file, "a\u0001b"]);
/** A password put in a URL, which no message may repeat. */
const URL_PASSWORD = "s3cret-in-url";
const url = (code: string): Bad[] => all(code, ["", "example.com", "ftp://example.com/x", "http://", "not a url", `http://admin:${URL_PASSWORD}@example.com/`, `https://:${URL_PASSWORD}@example.com`]);
/** A URL that API paths are appended to: no query or fragment either. */
const baseUrl = (code: string): Bad[] => [...url(code), ...all(code, ["http://example.com/?a=1", "http://example.com/#top"])];
const host = (code: string): Bad[] => all(code, ["", "a b", "host_name!", "999.1.1.1", `${"a".repeat(64)}.example.com`]);
const ids = (): Bad[] => all("Config.InvalidId", ["", " ", "x".repeat(200), "a\nb"]);

const API_FLAGS: Record<string, Bad[]> = {
  "--server": baseUrl("Config.InvalidServerUrl"),
  "--api-key": [...all("Config.InvalidApiKey", ["", "a b", "x".repeat(600)]), ["hk_not-the-key", "Api.Unauthorized"]],
};

// Every flag (or <argument>) that takes a value, by command. Codes come from the CLI, the settings or the server.
const FLAGS: Record<string, Record<string, Bad[]>> = {
  migrate: {
    "--accessid": all("Config.InvalidAccessId", ["a b", "x".repeat(300), "ключ"]),
    "--secretkey": all("Config.InvalidSecretKey", ["a b", "x".repeat(300), "секрет"]),
    "--regionid": all("Config.InvalidRegionId", ["Hangzhou", "cn_hangzhou", "cn-", " -x"]),
    "--imagename": all("Config.InvalidImageName", ["", "a", "1abc", "my image", "x".repeat(129)]),
    "--systemdisksize": settingNumber("Config.InvalidSystemDiskSize", 20, 500),
    "--platform": all("Config.InvalidPlatform", ["centos", "Windows", "Linux"]),
    "--datadisks": [
      ["1|100", "Config.InvalidDataDisksFlag"],
      ["a|b|/mnt/d", "Config.InvalidDataDiskIndex"],
      ["0|100|/mnt/d", "Config.InvalidDataDiskIndex"],
      ["17|100|/mnt/d", "Config.InvalidDataDiskIndex"],
      ["1|19|/mnt/d", "Config.InvalidDataDiskSize"],
      ["1|1e3|/mnt/d", "Config.InvalidDataDiskSize"],
      ["1|100|relative", "Config.InvalidSrcPath"],
      ["1|100|/etc", "Config.InvalidSrcPath"],
      ["1|100|/mnt/d;1|100|/mnt/e", "Config.DuplicateDataDiskIndex"],
      [Array.from({ length: 17 }, (_, i) => `${(i % 16) + 1}|20|/mnt/d${i}`).join(";"), "Config.TooManyDataDisks"],
    ],
    "--bandwidthlimit": settingNumber("Config.InvalidBandwidthLimit", 0, 12_500_000),
    "--netmode": all("Config.InvalidNetMode", ["", "3", "-1", "abc", "1.5"]),
    "--vpcid": all("Config.InvalidVpcId", ["", "vsw-1", "VPC-ABC", `vpc-${"x".repeat(200)}`]),
    "--vswitchid": all("Config.InvalidVSwitchId", ["", "vpc-1", "vsw_1"]),
    "--zoneid": all("Config.InvalidZoneId", ["", "Zone A", "x".repeat(200)]),
    "--securegroupid": all("Config.InvalidSecurityGroupId", ["", "sg_1", "vpc-1"]),
    "--progressfile": all("Config.InvalidProgressFile", ["", "/nonexistent/hoist-bad-input/progress.txt", "<base>"]),
    "--workdir": folder("Config.InvalidWorkdir"),
    "--source-root": folder("Config.InvalidSourceRoot"),
    "--compression": settingNumber("Config.InvalidCompressionLevel", 0, 10),
    "--streams": settingNumber("Config.InvalidParallelStreams", 1, 16),
    "--block-partitions": all("Config.InvalidBlockReplication", ["/mnt/not-a-disk", "/var"]),
    "--image-store": newFolder("Config.InvalidImageStore"),
    "--verify-timeout": digits("Config.InvalidVerifyTimeout", 60, 7200),
    "--target": all("Config.InvalidTarget", ["", "Image", "vm"]),
    "--destination-instance": all("Config.InvalidDestinationInstance", ["", "i-", "vm-1234", `i-${"a".repeat(41)}`]),
    "--ens-region": all("Config.InvalidEnsTarget", ["", "Beijing", "cn_beijing"]),
    "--transit-bucket": all("Config.InvalidEnsTarget", ["", "My_Bucket", "ab", "x".repeat(64)]),
    "--instance-type": all("Config.InvalidInstanceType", ["", "large", "ecs g6"]),
    "--intermediate-image": all("Config.InvalidIntermediateImage", ["", "-img", "a b"]),
    "--receiver-bundle-url": url("Config.InvalidReceiverBundleUrl"),
    "--receiver-ports": all("Config.InvalidReceiverPorts", ["", "8080", "8080,8080", "0,1", "8080,70000", "a,b"]),
    "--endpoint-override": baseUrl("Config.InvalidEndpointOverride"),
  },
  check: {
    "--source-root": folder("Config.InvalidSourceRoot"),
    "--workdir": folder("Config.InvalidWorkdir"),
    "--receiver": host("Config.InvalidHost"),
    "--control-port": digits("Config.InvalidPort", 1, 65535),
    "--data-port": digits("Config.InvalidPort", 1, 65535),
    "--fingerprint": all("Config.InvalidFingerprint", ["", "abc", "z".repeat(64), "a".repeat(65)]),
  },
  receiver: {
    "--state-dir": newFolder("Config.InvalidStateDir"),
    "--control-port": [...digits("Config.InvalidPort", 0, 65535), ["<data-port>", "Config.InvalidPort"]],
    "--data-port": digits("Config.InvalidPort", 0, 65535),
    "--listen": host("Config.InvalidListenAddress"),
    "--target-backend": choices(["", "zfs"]),
    "--log-level": choices(["", "verbose"]),
  },
  "image list": { "--image-store": newFolder("Config.InvalidImageStore") },
  "image rm": { "--image-store": newFolder("Config.InvalidImageStore"), "<name>": all("Image.InvalidName", ["", "a", "../etc", "a/b", "x".repeat(200)]) },
  "image export": {
    "--image-store": newFolder("Config.InvalidImageStore"),
    "<name>": all("Image.InvalidName", ["", "a", "../etc"]),
    "--format": choices(["", "vmdk"]),
    "--output": all("Config.InvalidOutput", ["", "<file>", "<base>", "a\u0001b"]),
  },
  "image verify": { "--image-store": newFolder("Config.InvalidImageStore"), "<name>": all("Image.InvalidName", ["", "../etc"]), "--timeout": digits("Config.InvalidTimeout", 10, 86400) },
  "image check": { "--image-store": newFolder("Config.InvalidImageStore"), "<name>": all("Image.InvalidName", ["", "../etc"]) },
  server: {
    "--port": digits("Config.InvalidPort", 0, 65535),
    "--listen": host("Config.InvalidListenAddress"),
    "--data-dir": newFolder("Config.InvalidDataDir"),
    "--public-url": baseUrl("Config.InvalidUrl"),
    "--tls-cert": [...missingPath("Config.InvalidTlsFile"), ["<base>", "Config.InvalidTlsFile"], ["<garbage>", "Config.InvalidTlsFile"]],
    "--tls-key": [...missingPath("Config.InvalidTlsFile"), ["<base>", "Config.InvalidTlsFile"], ["<garbage>", "Config.InvalidTlsFile"]],
    "--heartbeat-seconds": digits("Config.InvalidNumber", 1, 3600),
    "--offline-after-seconds": digits("Config.InvalidNumber", 1, 86400),
    "--image-store": newFolder("Config.InvalidImageStore"),
    "--verify-timeout": digits("Config.InvalidNumber", 60, 7200),
    "--max-event-streams": digits("Config.InvalidNumber", 0, 10000),
    "--hour-seconds": digits("Config.InvalidNumber", 1, 3600),
    "--log-level": choices(["", "verbose"]),
    "--provider": all("Config.InvalidProvider", ["", "aws", "Local"]),
    "--region": all("Config.InvalidRegion", ["", "CN", "cn hangzhou"]),
    "--credentials-file": [
      ...all("Config.InvalidCredentialsFile", ["", "a\u0001b"]),
      ["/nonexistent/hoist-credentials", "Credentials.Missing"],
      ["<garbage600>", "Credentials.Invalid"],
      ["<file>", "Credentials.FileTooOpen"],
    ],
    "--receiver-bundle-url": url("Config.InvalidReceiverBundleUrl"),
    "--receiver-ports": all("Config.InvalidReceiverPorts", ["", "8080", "8080,8080", "0,1", "8080,70000", "a,b"]),
    "--endpoint-override": baseUrl("Config.InvalidEndpointOverride"),
  },
  agent: {
    "--activation-code": all("Config.InvalidActivationCode", ["", "a b", "x".repeat(201)]),
    "--server": baseUrl("Config.InvalidServerUrl"),
    "--source-root": folder("Config.InvalidSourceRoot"),
    "--state-dir": newFolder("Config.InvalidStateDir"),
    "--name": all("Config.InvalidName", ["", " ", "a\nb", "x".repeat(129)]),
    "--heartbeat-seconds": digits("Config.InvalidNumber", 1, 3600),
    "--log-level": choices(["", "verbose"]),
  },
  "codes create": {
    ...API_FLAGS,
    "--uses": serverNumber("ActivationCode.InvalidUses", 1, 1000, true),
    "--validity-days": serverNumber("ActivationCode.InvalidValidity", 1, 90, true),
    "--description": all("ActivationCode.InvalidDescription", ["x".repeat(257)]),
  },
  "codes list": { ...API_FLAGS },
  "sources list": {
    ...API_FLAGS,
    "--state": all("SourceServer.InvalidStateFilter", ["", "available", "Bogus"]),
    "--name": all("SourceServer.InvalidNameFilter", ["", "x".repeat(129)]),
    "--limit": all("Api.InvalidParameter", ["", "0", "1001", "abc", "1e3", "-1", "0x10"]),
    "--offset": all("Api.InvalidParameter", ["", "-1", "abc", "1e3", "1000000001"]),
  },
  "sources show": { ...API_FLAGS, "<sourceId>": ids() },
  "sources rm": { ...API_FLAGS, "<sourceId>": ids() },
  "jobs create": {
    ...API_FLAGS,
    "--source": all("Api.InvalidBody", ["", "x".repeat(65)]),
    "--name": all("ReplicationJob.InvalidName", ["", " ", "a\nb", "x".repeat(129), "http://x"]),
    "--description": all("ReplicationJob.InvalidDescription", ["x".repeat(257), "https://x"]),
    "--image-name": all("ReplicationJob.InvalidImageName", ["", "a", "1abc", "a/b", "x".repeat(97)]),
    "--region": all("ReplicationJob.InvalidRegionId", ["", "CN", "cn hangzhou", "x".repeat(70)]),
    "--system-disk-size": serverNumber("ReplicationJob.InvalidSystemDiskSize", 20, 2048),
    "--data-disk": [
      ...all("Config.InvalidDataDiskFlag", ["", "1:100", "1:100:relative", "a:1:/x", "1:-5:/x"]),
      ...all("ReplicationJob.InvalidDataDisks", ["0:100:/data", "17:100:/data", "1:19:/data", "1:100:/proc/x", "1:100:/data/../etc"]),
    ],
    "--block-disk": [...all("Config.InvalidNumber", ["", "abc", "1.5"]), ["3", "Config.InvalidBlockDiskFlag"]],
    "--boot-mode": all("ReplicationJob.InvalidBootMode", ["", "efi"]),
    "--filesystem": all("ReplicationJob.InvalidFilesystem", ["", "btrfs", "EXT4"]),
    "--rate-limit": serverNumber("ReplicationJob.InvalidRateLimit", 0, 100_000, true),
    "--compress-level": serverNumber("ReplicationJob.InvalidCompressLevel", 0, 10),
    "--parallel-streams": serverNumber("ReplicationJob.InvalidParallelStreams", 1, 16),
    "--license-type": all("ReplicationJob.InvalidLicenseType", ["", "GPL"]),
    "--instance-type": all("ReplicationJob.InvalidInstanceType", ["", "a b", "x".repeat(65)]),
    "--destination-instance": all("Config.InvalidDestinationInstance", ["", "i-", "vm-1234", "I-BP1ABCD"]),
    "--tag": [...all("Config.InvalidTagFlag", ["", "=v"]), ...all("ReplicationJob.InvalidTags", ["aliyun:x=1", `k=${"v".repeat(129)}`, "k".repeat(129)])],
    "--frequency": serverNumber("ReplicationJob.InvalidFrequency", 1, 168),
    "--keep": serverNumber("ReplicationJob.InvalidMaxNumberOfImageToKeep", 1, 10),
    "--at": [...all("Config.InvalidTime", ["", "tomorrow", "2030-02-30T00:00:00Z", "2030-01-31T22:00:00"]), ["2020-01-01T00:00:00Z", "ReplicationJob.InvalidScheduledStartTime"]],
    "--valid-until": [...all("Config.InvalidTime", ["", "next year"]), ["2020-01-01T00:00:00Z", "ReplicationJob.InvalidValidTime"]],
  },
  "jobs list": {
    ...API_FLAGS,
    "--status": all("ReplicationJob.InvalidStatusFilter", ["", "running", "Bogus"]),
    "--source": all("Api.InvalidParameter", ["", "x".repeat(65)]),
    "--name": all("ReplicationJob.InvalidNameFilter", ["", "x".repeat(129)]),
    "--limit": [...all("Config.InvalidNumber", ["", "abc", "1e3"]), ...all("Api.InvalidParameter", ["0", "1001", "-1"])],
    "--offset": [...all("Config.InvalidNumber", ["abc", "1.5"]), ...all("Api.InvalidParameter", ["-1", "1000000001"])],
  },
  "jobs show": { ...API_FLAGS, "<jobId>": ids() },
  "jobs start": { ...API_FLAGS, "<jobId>": ids() },
  "jobs stop": { ...API_FLAGS, "<jobId>": ids() },
  "jobs retry": { ...API_FLAGS, "<jobId>": ids() },
  "jobs cancel": { ...API_FLAGS, "<jobId>": ids() },
  "jobs rm": { ...API_FLAGS, "<jobId>": ids() },
  "jobs modify": {
    ...API_FLAGS,
    "<jobId>": ids(),
    "--name": all("ReplicationJob.InvalidName", ["", "x".repeat(129)]),
    "--description": all("ReplicationJob.InvalidDescription", ["x".repeat(257)]),
    "--rate-limit": serverNumber("ReplicationJob.InvalidRateLimit", 0, 100_000, true),
    "--compress-level": serverNumber("ReplicationJob.InvalidCompressLevel", 0, 10),
    "--frequency": serverNumber("ReplicationJob.InvalidFrequency", 1, 168),
    "--keep": serverNumber("ReplicationJob.InvalidMaxNumberOfImageToKeep", 1, 10),
    "--valid-until": [...all("Config.InvalidTime", ["", "soon"]), ["2020-01-01T00:00:00Z", "ReplicationJob.InvalidValidTime"]],
  },
  "jobs watch": {
    ...API_FLAGS,
    "<jobId>": ids(),
    "--until": all("Config.InvalidStatus", ["", "Done", "finished"]),
    "--timeout": [...all("Config.InvalidNumber", ["", "abc", "1e3", "1.5"]), ...all("Config.InvalidTimeout", ["0", "-1", "2592001", "99999999999999999999"])],
  },
  "images list": { ...API_FLAGS, "--job": all("Api.InvalidParameter", ["", "x".repeat(65)]) },
};

/** Flags that need another flag with them to mean anything (--keep is for periodic jobs). */
const ALIBABA = ["--provider", "alibaba", "--receiver-bundle-url", "https://bundles.example.invalid/hoist.mjs"];
const WITH: Record<string, string[]> = {
  "jobs create --keep": ["--frequency", "24"],
  "server --tls-cert": ["--tls-key", "<key>"],
  "server --tls-key": ["--tls-cert", "<cert>"],
  // Flags of --provider alibaba are checked with it (with the local provider they are refused as out of place).
  "server --credentials-file": ALIBABA,
  "server --receiver-bundle-url": ["--provider", "alibaba"],
  "server --receiver-ports": ALIBABA,
  "server --endpoint-override": ALIBABA,
};

function placeholder(v: string): string {
  const named: Record<string, string> = { "<base>": base, "<file>": dir.file, "<garbage>": dir.garbage, "<garbage600>": dir.garbage600, "<key>": dir.key, "<cert>": dir.cert };
  return named[v] ?? v;
}

// --- The command tree.

interface Slot {
  command: string;
  /** "--flag" or "<argument>". */
  name: string;
  takesValue: boolean;
}

function slots(): Slot[] {
  const out: Slot[] = [];
  const walk = (c: Command, path: string[]): void => {
    if (path.length && c.commands.length === 0) {
      const command = path.join(" ");
      for (const o of c.options as readonly Option[]) out.push({ command, name: o.long ?? String(o.short), takesValue: o.required || o.optional });
      for (const a of c.registeredArguments) out.push({ command, name: `<${a.name()}>`, takesValue: true });
    }
    for (const sub of c.commands) if (!(sub as unknown as { _hidden?: boolean })._hidden) walk(sub, [...path, sub.name()]);
  };
  walk(createProgram(), []);
  return out;
}

/** The command line of one case: the base with the slot under test set to the bad value. */
function argsFor(slot: Slot, value: string): string[] {
  const baseArgs = [...(BASES[slot.command] as CommandBase).args(), ...(WITH[`${slot.command} ${slot.name}`] ?? []).map(placeholder)];
  if (slot.name.startsWith("<")) {
    // Arguments come first in each base: replace the first one (each command here takes at most one).
    const hasArg = baseArgs.length > 0 && !(baseArgs[0] as string).startsWith("--");
    return [...slot.command.split(" "), value, ...(hasArg ? baseArgs.slice(1) : baseArgs)];
  }
  const out: string[] = [];
  for (let i = 0; i < baseArgs.length; i++) {
    if (baseArgs[i] === slot.name) i++;
    else out.push(baseArgs[i] as string);
  }
  // `--flag=value` keeps values that begin with "-" from reading as flags.
  return [...slot.command.split(" "), ...out, `${slot.name}=${value}`];
}

beforeAll(async () => {
  for (const d of [dir.workdir, dir.source, dir.store]) mkdirSync(d, { recursive: true });
  writeFileSync(join(dir.workdir, "user_config.json"), JSON.stringify({ image_name: "bad-input-image", region_id: "local", system_disk_size: 40 }));
  writeFileSync(dir.file, "not a folder\n");
  writeFileSync(dir.garbage, "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n");
  writeFileSync(dir.garbage600, "[default]\nnot an access key\n", { mode: 0o600 });
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=bad-input", "-days", "2", "-keyout", dir.key, "-out", dir.cert], { stdio: "ignore" });
  ({ db, server } = await startInProcessServer({
    apiKey: API_KEY,
    heartbeatSeconds: 3600,
    offlineAfterSeconds: 86_400,
    work: { start: async () => {}, release: async () => {} },
    throttle: { baseDelayMs: 0, maxDelayMs: 0 },
  }));
  const call = async (path: string, body: unknown, auth: string | null = API_KEY): Promise<Record<string, unknown>> => {
    const res = await fetch(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...(auth ? { authorization: `Bearer ${auth}` } : {}) }, body: JSON.stringify(body) });
    return (await res.json()) as Record<string, unknown>;
  };
  const code = await call("/v1/activation-codes", { uses: 1 });
  const inventory = debianInventory({
    collectedAt: new Date().toISOString(),
    hostname: "bad-input",
    bootloader: { kind: "grub2", version: null },
    mounts: [{ mountPoint: "/", device: "/dev/vda1", fs: "ext4", sizeBytes: 50 * 2 ** 30, usedBytes: 2 ** 30 }],
    systemDiskBytes: 50 * 2 ** 30,
    usedBytes: 2 ** 30,
  });
  const reg = await call("/v1/agents/register", { activationCode: code["code"], name: "bad-input", inventory }, null);
  sourceId = reg["sourceId"] as string;
  const job = await call("/v1/jobs", { SourceId: sourceId, ExecutionMethod: "CreateOnly", DataDisks: [{ Index: 1, SourcePath: "/data" }] });
  jobId = job["JobId"] as string;
  expect(jobId).toMatch(/^j-/);
}, 60_000);

afterAll(async () => {
  await server?.close();
  await db?.close();
  rmSync(base, { recursive: true, force: true });
});

describe("bad values for every flag of every hoist command", () => {
  it("has bad values for every flag and argument that takes a value, and a base for every command", () => {
    const missing = slots()
      .filter((s) => s.takesValue && s.name !== "--version" && !FLAGS[s.command]?.[s.name])
      .map((s) => `${s.command} ${s.name}`);
    expect(missing).toEqual([]);
    const commands = new Set(slots().map((s) => s.command));
    expect([...commands].filter((c) => !BASES[c])).toEqual([]);
    // And nothing listed here that the tree does not have (a renamed flag).
    const known = new Set(slots().map((s) => `${s.command} ${s.name}`));
    expect(Object.entries(FLAGS).flatMap(([c, flags]) => Object.keys(flags).map((f) => `${c} ${f}`)).filter((k) => !known.has(k))).toEqual([]);
  });

  it("accepts each command's base, so each refusal below is about the one bad value", async () => {
    for (const [command, b] of Object.entries(BASES)) {
      if (b.accepted === undefined) continue;
      const r = await hoist([...command.split(" "), ...b.args()]);
      if (b.accepted === "ok") expect([command, r.status, r.stderr]).toEqual([command, 0, ""]);
      else expect([command, r.status, r.stderr]).toEqual([command, 1, expect.stringContaining(`Error ${b.accepted}:`)]);
    }
  }, 60_000);

  it("refuses every bad value with its code and the flag's name, and changes nothing", async () => {
    const problems: string[] = [];
    let cases = 0;
    for (const slot of slots().filter((s) => s.takesValue && s.name !== "--version")) {
      const b = BASES[slot.command] as CommandBase;
      const bad: Bad[] = [
        ...(FLAGS[slot.command]?.[slot.name] ?? []),
        // Every value in another encoding is refused before anything reads it; so is one past any limit.
        [LATIN1, "Cli.InvalidEncoding"],
        [HUGE, "*"],
      ];
      // Compared once per flag: a change names the flag, and the server's lists are read twice, not per value.
      const before = await state(b.server === true);
      for (const [raw, code] of bad) {
        const value = raw === "<data-port>" ? "8703" : placeholder(raw);
        const args = raw === "<data-port>" ? [...argsFor(slot, "8703"), "--data-port=8703"] : argsFor(slot, value);
        const r = await hoist(args);
        cases++;
        const shown = `hoist ${slot.command} ${slot.name}=${JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)}`;
        const got = /Error (\S+):/.exec(r.stderr)?.[1] ?? "(none)";
        if (r.status === 0) problems.push(`${shown}: accepted`);
        else if (code === "*" ? /^(Internal|Server|Http)\./.test(got) || got === "(none)" : !r.stderr.includes(code)) problems.push(`${shown}: wanted ${code}, got ${got}: ${r.stderr.slice(0, 200)}`);
        // The server names its own fields (Description, not --description); the CLI names its flags.
        else if (got !== "Cli.InvalidEncoding" && !/^(Api|ActivationCode|ReplicationJob|SourceServer|Credentials)\./.test(got) && !r.stderr.includes(slot.name.replace(/[<>]/g, ""))) {
          problems.push(`${shown}: message does not name ${slot.name}: ${r.stderr.slice(0, 200)}`);
        }
        if (slot.name === "--secretkey" || slot.name === "--accessid" || slot.name === "--api-key") {
          if (raw.length > 2 && r.stderr.includes(raw)) problems.push(`${shown}: the secret is in the message`);
        }
        if (r.stderr.includes(URL_PASSWORD)) problems.push(`${shown}: the URL's password is in the message`);
      }
      if ((await state(b.server === true)) !== before) problems.push(`hoist ${slot.command} ${slot.name}: a refused value changed something`);
    }
    expect(problems).toEqual([]);
    expect(cases).toBeGreaterThan(500);
  }, 300_000);

  it("refuses bad values from the environment the same way, and changes nothing", async () => {
    const cases: [env: Record<string, string>, args: string[], code: string][] = [
      [{ HOIST_API_KEY: "hk_sh0rt" }, ["server", ...(BASES["server"] as CommandBase).args()], "Config.InvalidApiKey"],
      [{ HOIST_API_KEY: "hk_a-key with-spaces-and-long-enough" }, ["server", ...(BASES["server"] as CommandBase).args()], "Config.InvalidApiKey"],
      [{ HOIST_SERVER: "not a url", HOIST_API_KEY: API_KEY }, ["jobs", "list"], "Config.InvalidServerUrl"],
      [{ HOIST_SERVER: "ftp://example.com", HOIST_API_KEY: API_KEY }, ["sources", "list"], "Config.InvalidServerUrl"],
      [{ HOIST_SERVER: `http://admin:${URL_PASSWORD}@127.0.0.1:9`, HOIST_API_KEY: API_KEY }, ["jobs", "list"], "Config.InvalidServerUrl"],
      [{ HOIST_SERVER: "http://127.0.0.1:9", HOIST_API_KEY: "a b" }, ["codes", "list"], "Config.InvalidApiKey"],
    ];
    const problems: string[] = [];
    for (const [env, args, code] of cases) {
      const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
      Object.assign(process.env, env);
      const before = await state(false);
      const r = await hoist(args);
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      const name = Object.keys(env).find((k) => r.stderr.includes(k));
      if (r.status === 0 || !r.stderr.includes(`Error ${code}:`) || !name) problems.push(`${JSON.stringify(env)} hoist ${args[0]}: ${r.status} ${r.stderr.slice(0, 160)}`);
      if (env["HOIST_API_KEY"] && env["HOIST_API_KEY"] !== API_KEY && r.stderr.includes(env["HOIST_API_KEY"])) problems.push(`${args[0]}: the key is in the message`);
      if (r.stderr.includes(URL_PASSWORD)) problems.push(`${args[0]}: the URL's password is in the message`);
      if ((await state(false)) !== before) problems.push(`${JSON.stringify(env)} hoist ${args[0]}: changed something`);
    }
    expect(problems).toEqual([]);
  }, 60_000);

  it("refuses a value given to a flag that takes none", async () => {
    const problems: string[] = [];
    for (const slot of slots().filter((s) => !s.takesValue && !["--version", "--help"].includes(s.name) && BASES[s.command])) {
      const r = await hoist([...slot.command.split(" "), ...(BASES[slot.command] as CommandBase).args(), `${slot.name}=yes`]);
      if (r.status === 0 || !/Error Cli\./.test(r.stderr)) problems.push(`${slot.command} ${slot.name}=yes: ${r.status} ${r.stderr.slice(0, 120)}`);
    }
    expect(problems).toEqual([]);
  }, 60_000);
});

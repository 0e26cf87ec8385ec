// One place turns user_config.json plus command-line flags into the settings
// of a migration. It only reads: nothing is created, started or written, so a
// bad setting stops `hoist migrate` before it touches anything.
import { existsSync, statSync } from "node:fs";
import { dirname, resolve as resolvePath } from "node:path";
import { type ConfigProblem, describeValue, HoistError, LOCAL_REGION, type UserConfig, validateUserConfig } from "@hoist/protocol";
import { workdirPaths, type WorkdirPaths } from "../workdir";
import type { MigrateFlags } from "./flags";
import { decodeConfigText, parseConfigJson, readConfigBytes } from "./json-text";

export type NetMode = 0 | 1 | 2;

export interface MigrateConfig {
  /** user_config.json after flags and defaults. */
  settings: UserConfig;
  /** "local" when region_id is local, else the cloud the region belongs to. */
  provider: "local" | "alibaba";
  workdir: string;
  paths: WorkdirPaths;
  /** The tree being migrated: "/" for the running system. */
  sourceRoot: string;
  network: { mode: NetMode; vpcId?: string; vswitchId?: string; zoneId?: string; securityGroupId?: string };
  clearData: boolean;
  abort: boolean;
  verbose: boolean;
  progressFile?: string;
  checkVersion: boolean;
  waitForEnterKey: boolean;
  assumeYes: boolean;
  /** Things worth telling the user that do not stop the run (unknown fields, ignored flags). */
  warnings: string[];
}

// Which user_config.json field each flag overrides, so a bad flag gets the field's code.
const FLAG_FIELDS = [
  ["accessid", "access_id", "text"],
  ["secretkey", "secret_key", "text"],
  ["regionid", "region_id", "text"],
  ["imagename", "image_name", "text"],
  ["systemdisksize", "system_disk_size", "int"],
  ["platform", "platform", "text"],
  ["bandwidthlimit", "bandwidth_limit", "int"],
  ["compression", "compression_level", "int"],
  ["streams", "parallel_streams", "int"],
] as const;

/** Integers stay text when they are not plain digits, so the validator can say what it got. */
function asNumber(text: string): number | string {
  return /^-?\d{1,15}$/.test(text.trim()) ? Number(text.trim()) : text;
}

/** Parses --datadisks=1|100|/mnt/disk1;2|150|/mnt/disk2 into data_disks entries. */
export function parseDataDisksFlag(value: string): { disks: Record<string, unknown>[]; problems: ConfigProblem[] } {
  const disks: Record<string, unknown>[] = [];
  const problems: ConfigProblem[] = [];
  const entries = value.split(";").map((e) => e.trim());
  entries.forEach((entry, i) => {
    if (entry === "" && (i === entries.length - 1 || value.trim() === "")) return;
    const parts = entry.split("|");
    if (parts.length !== 3 || parts.some((p) => p.trim() === "")) {
      problems.push({
        code: "Config.InvalidDataDisksFlag",
        field: "--datadisks",
        value: entry,
        message: `--datadisks entry ${i + 1} must be index|size_GiB|src_path, e.g. 1|100|/mnt/disk1 (entries joined by ';'); got ${describeValue(entry)}`,
      });
      return;
    }
    const [index, size, path] = parts.map((p) => p.trim()) as [string, string, string];
    disks.push({ data_disk_index: asNumber(index), data_disk_size: asNumber(size), src_path: path });
  });
  return { disks, problems };
}

function readUserConfigFile(paths: WorkdirPaths, warnings: string[]): Record<string, unknown> {
  if (!existsSync(paths.userConfig)) {
    warnings.push(`${paths.userConfig} does not exist; using command-line flags and defaults only`);
    return {};
  }
  const raw = parseConfigJson(decodeConfigText(readConfigBytes(paths.userConfig), paths.userConfig), paths.userConfig);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new HoistError("Config.InvalidJson", `${paths.userConfig} must hold one JSON object such as {"image_name": "my-image"}; got ${describeValue(raw)}`, {
      fix: "Start from the template in the documentation and fill in image_name.",
    });
  }
  return raw as Record<string, unknown>;
}

function checkNetwork(flags: MigrateFlags, problems: ConfigProblem[]): MigrateConfig["network"] {
  const network: MigrateConfig["network"] = { mode: 0 };
  if (flags.netmode !== undefined) {
    const mode = asNumber(flags.netmode);
    if (mode === 0 || mode === 1 || mode === 2) network.mode = mode;
    else problems.push({ code: "Config.InvalidNetMode", field: "--netmode", value: flags.netmode, message: `--netmode must be 0, 1 or 2; got ${describeValue(flags.netmode)}` });
  }
  const ids = [
    ["vpcid", "vpcId", "vpc-", "Config.InvalidVpcId"],
    ["vswitchid", "vswitchId", "vsw-", "Config.InvalidVSwitchId"],
    ["zoneid", "zoneId", "", "Config.InvalidZoneId"],
    ["securegroupid", "securityGroupId", "sg-", "Config.InvalidSecurityGroupId"],
  ] as const;
  for (const [flag, key, prefix, code] of ids) {
    const value = flags[flag];
    if (value === undefined) continue;
    if (!/^[a-z0-9][a-z0-9-]{1,127}$/.test(value) || !value.startsWith(prefix)) {
      problems.push({ code, field: `--${flag}`, value, message: `--${flag} must be an ID${prefix ? ` starting with ${prefix}` : ""} made of lowercase letters, digits and hyphens; got ${describeValue(value)}` });
    } else network[key] = value;
  }
  if (network.mode !== 0 && (flags.vpcid === undefined || flags.vswitchid === undefined)) {
    problems.push({
      code: "Config.InvalidNetMode",
      field: "--netmode",
      value: network.mode,
      message: `--netmode ${network.mode} places the intermediate instance in your VPC, so --vpcid and --vswitchid are both required`,
    });
  }
  return network;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function checkSourceRoot(dir: string, problems: ConfigProblem[]): string {
  const root = resolvePath(dir);
  // An empty value would quietly mean the current folder.
  const ok = dir.trim() !== "" && isDirectory(root);
  if (!ok) problems.push({ code: "Config.InvalidSourceRoot", field: "--source-root", value: dir, message: `--source-root must be an existing directory holding a Linux tree; got ${describeValue(dir)}` });
  return root;
}

/**
 * Reads <workdir>/user_config.json, applies the flags over it and validates
 * everything. Throws Config.InvalidJson for unreadable JSON and Config.Invalid
 * (every problem in details.problems, each with its own code) for bad values.
 */
/** Checks the working folder before anything is read from it: it must be there (nothing creates it). */
function checkWorkdir(given: string | undefined): string {
  if (given !== undefined && given.trim() === "") {
    throw new HoistError("Config.InvalidWorkdir", "--workdir must name a folder; it is empty", { fix: "Pass --workdir <folder> holding user_config.json, or leave it out to use the current folder." });
  }
  const workdir = resolvePath(given ?? process.cwd());
  if (!isDirectory(workdir)) {
    throw new HoistError("Config.InvalidWorkdir", `--workdir ${JSON.stringify(given ?? workdir)} is not an existing folder`, { fix: "Create the folder with user_config.json in it first, or pass the folder that has them." });
  }
  return workdir;
}

export function resolveMigrateConfig(input: { workdir?: string; flags?: MigrateFlags }): MigrateConfig {
  const flags = input.flags ?? {};
  const workdir = checkWorkdir(input.workdir ?? flags.workdir);
  const paths = workdirPaths(workdir);
  const warnings: string[] = [];
  const problems: ConfigProblem[] = [];
  const raw = readUserConfigFile(paths, warnings);

  const fromFlag = new Map<string, string>();
  for (const [flag, field, kind] of FLAG_FIELDS) {
    const value = flags[flag];
    if (value === undefined) continue;
    raw[field] = kind === "int" ? asNumber(value) : value;
    fromFlag.set(field, `--${flag}`);
  }
  if (flags.checksum) raw.checksum = true;
  if (flags.lvm) raw.lvm = true;
  if (flags.separateBoot) raw.separate_boot = true;
  if (flags.blockPartitions !== undefined) {
    raw.block_replication = flags.blockPartitions
      .split(",")
      .map((m) => m.trim())
      .filter((m) => m !== "");
    fromFlag.set("block_replication", "--block-partitions");
  }
  if (flags.datadisks !== undefined) {
    const parsed = parseDataDisksFlag(flags.datadisks);
    problems.push(...parsed.problems);
    raw.data_disks = parsed.disks;
    fromFlag.set("data_disks", "--datadisks");
  }

  const result = validateUserConfig(raw);
  for (const p of result.problems) {
    const top = p.field.replace(/[[.].*$/, "");
    const flag = fromFlag.get(top);
    problems.push(flag ? { ...p, field: `${flag} (${p.field})`, message: `${flag}: ${p.message}` } : p);
  }
  warnings.push(...result.warnings);
  const network = checkNetwork(flags, problems);
  const sourceRoot = checkSourceRoot(flags.sourceRoot ?? "/", problems);
  if (flags.progressfile !== undefined) {
    const file = resolvePath(flags.progressfile);
    const why =
      flags.progressfile.trim() === "" || /[\u0000-\u001f]/.test(flags.progressfile) || flags.progressfile.length > 4096 || flags.progressfile.split("/").some((p) => Buffer.byteLength(p) > 255)
        ? "must name a file (a path of at most 4096 characters, names of at most 255 bytes, no control characters)"
        : isDirectory(file)
          ? "names a folder; it must name a file"
          : !isDirectory(dirname(file))
            ? `must be in an existing folder (${dirname(file)} is not one)`
            : undefined;
    if (why) problems.push({ code: "Config.InvalidProgressFile", field: "--progressfile", value: flags.progressfile, message: `--progressfile ${why}; got ${describeValue(flags.progressfile)}` });
  }

  if (problems.length > 0 || result.config === undefined) {
    throw new HoistError("Config.Invalid", `The migration settings have ${problems.length} problem${problems.length === 1 ? "" : "s"}:\n${problems.map((p) => `  ${p.code}: ${p.message}`).join("\n")}`, {
      fix: `Correct ${paths.userConfig} or the flags named above, then run hoist migrate again. Nothing was copied or created.`,
      details: {
        problems: problems.map(({ value, ...rest }) => ({
          ...rest,
          value: /secret_key|--secretkey|access_id|--accessid/.test(rest.field) ? "[redacted]" : typeof value === "string" && value.length > 200 ? `${value.slice(0, 197)}...` : value,
        })),
      },
    });
  }
  const settings = result.config;
  if (settings.region_id === LOCAL_REGION && (network.mode !== 0 || network.vpcId || network.securityGroupId)) {
    warnings.push("--netmode, --vpcid, --vswitchid and --securegroupid apply to cloud regions only and are ignored for the local region");
  }
  return {
    settings,
    provider: settings.region_id === LOCAL_REGION ? "local" : "alibaba",
    workdir,
    paths,
    sourceRoot,
    network,
    clearData: flags.cleardata === true,
    abort: flags.abort === true,
    verbose: flags.verbose === true,
    ...(flags.progressfile === undefined ? {} : { progressFile: resolvePath(flags.progressfile) }),
    checkVersion: flags.nocheckversion !== true,
    waitForEnterKey: flags.noenterkey !== true,
    assumeYes: flags.yes === true,
    warnings,
  };
}

/** Values that must never reach a log, client_data or the screen. */
export function migrateSecrets(config: MigrateConfig): string[] {
  return [config.settings.access_id, config.settings.secret_key].filter((s) => s !== "");
}

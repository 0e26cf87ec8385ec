import { join } from "node:path";
import {
  addMigrateOptions,
  clearMigrationData,
  createProgressReporter,
  finalLine,
  type MigrateFlags,
  migrateSecrets,
  openRunLog,
  preflight,
  prepareMigration,
  runMigration,
  terminalQuestion,
} from "@hoist/agent";
import { ECS_INSTANCE_ID, HoistError, isHoistError, toHoistError } from "@hoist/protocol";
import { claimPidFile, pidAlive, pidFileHolder } from "@hoist/runtime";
import { type AlibabaTarget, createAlibabaProvider, createLocalProvider, type Provider, resolveCredentials } from "@hoist/providers";
import type { Command } from "commander";
import { httpUrl, pathValue, wholeNumber } from "./flag-values";

interface HoistMigrateFlags extends MigrateFlags {
  verify?: boolean;
  copyOnly?: boolean;
  imageStore?: string;
  verifyTimeout?: number;
  endpointOverride?: string;
  instanceType?: string;
  target?: string;
  destinationInstance?: string;
  testOnly?: boolean;
  ensRegion?: string;
  transitBucket?: string;
  intermediateImage?: string;
  receiverBundleUrl?: string;
  receiverPorts?: string;
}

/** A value the way a message shows it, cut short. */
const shown = (v: string): string => JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);

/** An id or name of Alibaba Cloud's: a pattern it must match, the code and what it is. */
function cloudId(flag: string, pattern: RegExp, code: string, what: string) {
  return (value: string): string => {
    if (!pattern.test(value)) throw new HoistError(code, `${flag} must be ${what} (got ${shown(value)})`, { fix: `Pass ${flag} ${what}.` });
    return value;
  };
}

function receiverPortsFlag(value: string): string {
  const m = /^(\d{1,5}),(\d{1,5})$/.exec(value);
  const [c, d] = [Number(m?.[1]), Number(m?.[2])];
  if (!m || c < 1 || c > 65535 || d < 1 || d > 65535 || c === d) {
    throw new HoistError("Config.InvalidReceiverPorts", `--receiver-ports must be CONTROL,DATA: two different ports 1–65535 (got ${shown(value)})`, { fix: "Pass e.g. --receiver-ports 8080,8703." });
  }
  return value;
}

/**
 * Where an Alibaba Cloud region_id puts the migration (--target and the flags
 * it needs), checked before anything starts whatever the region: a flag given
 * wrongly is refused even where it would not be used.
 */
function alibabaTarget(flags: HoistMigrateFlags): AlibabaTarget {
  const kind = flags.target ?? "image";
  if (kind === "instance") {
    if (!flags.destinationInstance) throw new HoistError("Config.InvalidDestinationInstance", "--target instance needs --destination-instance i-… (the existing ECS instance to migrate onto)", { fix: "Pass --destination-instance with the instance's id." });
    return { kind: "instance", instanceId: flags.destinationInstance, ...(flags.testOnly ? { testOnly: true } : {}) };
  }
  if (kind === "ens") {
    if (!flags.ensRegion || !flags.transitBucket) {
      throw new HoistError("Config.InvalidEnsTarget", "--target ens needs --ens-region (cn-beijing or ap-southeast-1) and --transit-bucket (an OSS bucket in region_id)", { fix: "Pass both --ens-region and --transit-bucket." });
    }
    return { kind: "ens", ensRegionId: flags.ensRegion, transitBucket: flags.transitBucket };
  }
  return { kind: "image" };
}

/** The Alibaba Cloud provider for a cloud region_id, from the settings and the Alibaba flags. */
function alibabaProvider(prepared: ReturnType<typeof prepareMigration>, flags: HoistMigrateFlags, logger: import("@hoist/runtime").Logger): Provider {
  const { config } = prepared;
  const target = alibabaTarget(flags);
  let receiverPorts: { control: number; data: number } | undefined;
  if (flags.receiverPorts !== undefined) {
    const [c, d] = receiverPortsFlag(flags.receiverPorts).split(",").map(Number) as [number, number];
    receiverPorts = { control: c, data: d };
  }
  const s = config.settings;
  const net = config.network;
  return createAlibabaProvider({
    credentials: resolveCredentials({ accessKeyId: s.access_id, accessKeySecret: s.secret_key }),
    regionId: s.region_id,
    target,
    netMode: net.mode === 1 ? "vpc" : "public",
    ...(net.vpcId ? { vpcId: net.vpcId } : {}),
    ...(net.vswitchId ? { vSwitchId: net.vswitchId } : {}),
    ...(net.zoneId ? { zoneId: net.zoneId } : {}),
    ...(net.securityGroupId ? { securityGroupId: net.securityGroupId } : {}),
    ...(flags.endpointOverride ? { endpointOverride: flags.endpointOverride } : {}),
    ...(flags.instanceType ? { instanceType: flags.instanceType } : {}),
    ...(flags.intermediateImage ? { intermediateImageId: flags.intermediateImage } : {}),
    ...(flags.receiverBundleUrl ? { receiverBundleUrl: flags.receiverBundleUrl } : {}),
    ...(receiverPorts ? { receiverPorts } : {}),
    ...(process.env["HOIST_ALIBABA_POLL_MS"] ? { pollIntervalMs: Number(process.env["HOIST_ALIBABA_POLL_MS"]) } : {}),
    logger,
  });
}

const PID_FILE = ".hoist_agent.pid";


/** One agent per workdir: a second one would fight over client_data and the job. */
function takeWorkdirLock(workdir: string): () => void {
  const lock = claimPidFile(join(workdir, PID_FILE));
  if (!lock.held) {
    throw new HoistError("Agent.AlreadyRunning", `hoist migrate is already running in ${workdir} (pid ${lock.holder})`, {
      fix: "Wait for it to finish, or stop it with hoist migrate --abort.",
    });
  }
  return lock.release;
}

async function abortRunning(workdir: string): Promise<void> {
  const holder = pidFileHolder(join(workdir, PID_FILE));
  if (holder === null) {
    process.stdout.write("No hoist migrate is running in this folder.\n");
    return;
  }
  process.kill(holder, "SIGTERM");
  for (let i = 0; i < 300 && pidAlive(holder); i++) await new Promise((r) => setTimeout(r, 100));
  if (pidAlive(holder)) process.kill(holder, "SIGKILL");
  process.stdout.write(`Stopped hoist migrate (pid ${holder}). Run hoist migrate again to resume, or with --cleardata to start over.\n`);
}

export function registerMigrateCommand(program: Command): void {
  const cmd = program
    .command("migrate")
    .description(
      "Migrate this server (or --source-root DIR) into a bootable image: copy its disks to an intermediate instance over TLS, make the copy bootable, create the image and boot it to prove it works. Reads user_config.json and Excludes/ from the working folder; resumes from client_data after any interruption.",
    );
  addMigrateOptions(cmd)
    .option("--no-verify", "do not boot the image before saying the migration finished")
    .option("--copy-only", "stop after copying; the target disks stay on the intermediate instance for a later re-sync or image")
    .option("--image-store <dir>", "image store folder of the local region (default $HOIST_IMAGE_STORE or /var/lib/hoist/images)", pathValue("--image-store", { code: "Config.InvalidImageStore" }))
    .option("--verify-timeout <seconds>", "how long the boot check may take, 60–7200 (default 900)", wholeNumber("--verify-timeout", 60, 7200, "Config.InvalidVerifyTimeout"))
    .option(
      "--target <kind>",
      "for an Alibaba Cloud region_id: image (an ECS custom image, the default), instance (onto --destination-instance) or ens (an ENS image through --transit-bucket)",
      cloudId("--target", /^(image|instance|ens)$/, "Config.InvalidTarget", "image, instance or ens"),
    )
    .option(
      "--destination-instance <id>",
      "--target instance: the existing ECS instance to migrate onto (its disks are snapshotted first and rolled back if the boot test fails)",
      cloudId("--destination-instance", ECS_INSTANCE_ID, "Config.InvalidDestinationInstance", "an ECS instance id such as i-bp1abcd2efgh3ijk4lmn"),
    )
    .option("--test-only", "--target instance: boot-test the migrated destination, then roll its disks back to the snapshots")
    .option("--ens-region <id>", "--target ens: where the ENS image goes (cn-beijing or ap-southeast-1)", cloudId("--ens-region", /^[a-z]{2,}(-[a-z0-9]+){1,3}$/, "Config.InvalidEnsTarget", "a region id such as cn-beijing"))
    .option(
      "--transit-bucket <name>",
      "--target ens: OSS bucket in region_id that carries the exported image (its object is deleted afterwards)",
      cloudId("--transit-bucket", /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, "Config.InvalidEnsTarget", "an OSS bucket name: 3–63 lowercase letters, digits and hyphens"),
    )
    .option(
      "--instance-type <type>",
      "ECS instance type of the intermediate instance (default: the first in stock of an ordered list)",
      cloudId("--instance-type", /^[a-z][a-z0-9]{0,15}(\.[a-z0-9-]{1,32}){1,3}$/, "Config.InvalidInstanceType", "an ECS instance type such as ecs.g6.large"),
    )
    .option(
      "--intermediate-image <id>",
      "ECS image the intermediate instance runs (default: the newest public Debian 12 image)",
      cloudId("--intermediate-image", /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "Config.InvalidIntermediateImage", "an ECS image id such as m-bp1abc or debian_12_5_x64_20G_alibase_20240717.vhd"),
    )
    .option("--receiver-bundle-url <url>", "where the intermediate instance downloads hoist.mjs (default $HOIST_BUNDLE_URL)", httpUrl("--receiver-bundle-url", "Config.InvalidReceiverBundleUrl"))
    .option("--receiver-ports <control,data>", "receiver ports on the intermediate instance, opened in its security group (default 8080,8703)", receiverPortsFlag)
    .option(
      "--endpoint-override <url>",
      "send every Alibaba Cloud API call (ECS, VPC, OSS, ENS) to this http(s)://host[:port] instead of Alibaba Cloud's endpoints (a test double or a proxy)",
      httpUrl("--endpoint-override", "Config.InvalidEndpointOverride", { base: true }),
    )
    .action(async (flags: HoistMigrateFlags) => {
      // Every setting is checked before anything is created, started or copied.
      alibabaTarget(flags);
      const prepared = prepareMigration({ flags });
      const { config } = prepared;
      const secrets = migrateSecrets(config);
      if (config.abort) {
        await abortRunning(config.workdir);
        return;
      }
      if (process.getuid?.() !== 0) {
        throw new HoistError("Agent.NotRoot", "hoist migrate must run as root to read every file and keep owners", { fix: "Run it with sudo or as root." });
      }
      const verifyTimeout = flags.verifyTimeout ?? 900;
      const release = takeWorkdirLock(config.workdir);
      const { logger, file: logFile } = openRunLog(config.workdir, { secrets, verbose: config.verbose });
      for (const w of config.warnings) logger.warn(w);
      const progress = createProgressReporter({ ...(config.progressFile ? { progressFile: config.progressFile } : {}), verbose: config.verbose });
      const say = (line: string) => {
        logger.info(line);
        process.stdout.write(`${line}\n`);
      };
      const provider: Provider =
        config.provider === "alibaba" ? alibabaProvider(prepared, flags, logger) : createLocalProvider({ logger, ...(flags.imageStore ? { imageStore: flags.imageStore } : {}) });
      const where = config.provider === "alibaba" ? `region ${config.settings.region_id} as a custom image` : ((provider as { imageStore?: string }).imageStore ?? "the image store");
      const onSignal = (signal: NodeJS.Signals) => {
        logger.warn(`stopped by ${signal}; run hoist migrate again to resume`);
        process.stdout.write(`\n${finalLine(false)}\n`);
        release();
        process.exit(130);
      };
      process.once("SIGTERM", onSignal);
      process.once("SIGINT", onSignal);
      try {
        await preflight({ assumeYes: config.assumeYes, log: logger, say, ask: terminalQuestion() });
        if (config.clearData) {
          const released = await clearMigrationData(config.workdir, provider, logger);
          say(released ? `Cleared client_data and released intermediate instance ${released}.` : "Cleared client_data.");
        }
        const outcome = await runMigration({
          prepared,
          provider,
          log: logger,
          progress,
          verify: flags.verify !== false,
          verifyTimeoutSeconds: verifyTimeout,
          copyOnly: flags.copyOnly === true,
          secrets,
          say,
        });
        if (outcome.result === "copied") {
          process.stdout.write("\n");
          return;
        }
        progress.finish(true);
        say(`Image ${outcome.imageName} is in ${where}${outcome.verified ? " and booted" : " (not verified: --no-verify)"}.`);
      } catch (e) {
        const err = isHoistError(e) ? e : toHoistError(e);
        logger.error(err.message, { code: err.code, fix: err.fix, details: err.details });
        process.stdout.write("\n");
        process.stderr.write(`Error ${err.code}: ${err.message}\n${err.fix ? `Fix: ${err.fix}\n` : ""}Log: ${logFile}\n`);
        progress.finish(false);
        process.exitCode = 1;
      } finally {
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
        release();
      }
      if (config.waitForEnterKey && process.stdin.isTTY) {
        // As go2aliyun_client does, so a window opened just for the run stays readable.
        const { createInterface } = await import("node:readline/promises");
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        await rl.question("Press Enter to exit.");
        rl.close();
      }
    });
}

import { closeSync, existsSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
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
import { HoistError, isHoistError, toHoistError } from "@hoist/protocol";
import { pidAlive } from "@hoist/runtime";
import { createLocalProvider } from "@hoist/providers";
import type { Command } from "commander";

interface HoistMigrateFlags extends MigrateFlags {
  verify?: boolean;
  copyOnly?: boolean;
  imageStore?: string;
  verifyTimeout?: string;
}

const PID_FILE = ".hoist_agent.pid";


/** One agent per workdir: a second one would fight over client_data and the job. */
function takeWorkdirLock(workdir: string): () => void {
  const file = join(workdir, PID_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch {
      const holder = Number(readFileSync(file, "utf8").trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && pidAlive(holder)) {
        throw new HoistError("Agent.AlreadyRunning", `hoist migrate is already running in ${workdir} (pid ${holder})`, {
          fix: "Wait for it to finish, or stop it with hoist migrate --abort.",
        });
      }
      rmSync(file, { force: true });
    }
  }
  throw new HoistError("Agent.LockFailed", `could not lock ${workdir}`, { retryable: true });
}

async function abortRunning(workdir: string): Promise<void> {
  const file = join(workdir, PID_FILE);
  const holder = existsSync(file) ? Number(readFileSync(file, "utf8").trim()) : 0;
  if (!(holder > 0) || !pidAlive(holder)) {
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
    .option("--image-store <dir>", "image store folder of the local region (default $HOIST_IMAGE_STORE or /var/lib/hoist/images)")
    .option("--verify-timeout <seconds>", "how long the boot check may take (default 900)")
    .action(async (flags: HoistMigrateFlags) => {
      // Every setting is checked before anything is created, started or copied.
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
      if (config.provider !== "local") {
        throw new HoistError("Provider.Unavailable", `region ${config.settings.region_id} needs the Alibaba Cloud provider, which this build does not include yet`, {
          fix: 'Use region_id "local" to build the image on this host.',
        });
      }
      const verifyTimeout = flags.verifyTimeout === undefined ? 900 : Number(flags.verifyTimeout);
      if (!Number.isInteger(verifyTimeout) || verifyTimeout < 60 || verifyTimeout > 7200) {
        throw new HoistError("Config.InvalidVerifyTimeout", `--verify-timeout ${flags.verifyTimeout} is not a whole number of seconds from 60 to 7200`);
      }
      const release = takeWorkdirLock(config.workdir);
      const { logger, file: logFile } = openRunLog(config.workdir, { secrets, verbose: config.verbose });
      for (const w of config.warnings) logger.warn(w);
      const progress = createProgressReporter({ ...(config.progressFile ? { progressFile: config.progressFile } : {}), verbose: config.verbose });
      const say = (line: string) => {
        logger.info(line);
        process.stdout.write(`${line}\n`);
      };
      const provider = createLocalProvider({ logger, ...(flags.imageStore ? { imageStore: flags.imageStore } : {}) });
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
        say(`Image ${outcome.imageName} is in ${provider.imageStore}${outcome.verified ? " and booted" : " (not verified: --no-verify)"}.`);
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

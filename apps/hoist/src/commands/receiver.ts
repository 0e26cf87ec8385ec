import { join } from "node:path";
import { createDiskBackend } from "@hoist/images";
import { HoistError } from "@hoist/protocol";
import { createDirectoryBackend, startReceiver } from "@hoist/receiver";
import { createLogger, type LogLevel } from "@hoist/runtime";
import { type Command, Option } from "commander";
import { VERSION } from "../version";
import { hostValue, pathValue, portNumber } from "./flag-values";

export function registerReceiverCommand(program: Command): void {
  program
    .command("receiver")
    .description("Run the receiver on an intermediate instance: it owns the target disks and accepts transfers from agents.")
    .requiredOption("--state-dir <dir>", "where the certificate, admin token and jobs are kept (created 0700 on first start)", pathValue("--state-dir", { code: "Config.InvalidStateDir" }))
    .option("--control-port <port>", "HTTPS control API port (0 picks a free port)", portNumber("--control-port", { allowZero: true }), 8080)
    .option("--data-port <port>", "TLS data port for transfers (0 picks a free port)", portNumber("--data-port", { allowZero: true }), 8703)
    .option("--listen <address>", "address to listen on", hostValue("--listen", "Config.InvalidListenAddress"), "0.0.0.0")
    .addOption(new Option("--target-backend <kind>", "disk: sparse raw disks with real filesystems on loop devices; dir: plain folders (no conversion)").choices(["disk", "dir"]).default("disk"))
    .addOption(new Option("--log-level <level>", "least level printed on stderr").choices(["debug", "info", "warn", "error"]).default("info"))
    .addHelpText(
      "after",
      '\nWhen ready it prints one JSON line on stdout:\n  {"event":"ready","controlPort":…,"dataPort":…,"fingerprint":"<sha256 of the certificate>","pid":…}\nand writes the same facts to <state-dir>/receiver.json. The admin token is in <state-dir>/admin.token.',
    )
    .action(async (opts: { stateDir: string; controlPort: number; dataPort: number; listen: string; targetBackend: "disk" | "dir"; logLevel: LogLevel }) => {
      if (opts.controlPort !== 0 && opts.controlPort === opts.dataPort) {
        throw new HoistError("Config.InvalidPort", `--control-port and --data-port are both ${opts.dataPort}; the receiver needs two ports`, { fix: "Pass two different ports (or 0 for either to pick a free one)." });
      }
      const backend = opts.targetBackend === "dir" ? createDirectoryBackend() : createDiskBackend();
      const logger = createLogger({ console: process.stderr, consoleLevel: opts.logLevel, file: join(opts.stateDir, "receiver.log") });
      const receiver = await startReceiver({
        stateDir: opts.stateDir,
        backend,
        controlPort: opts.controlPort,
        dataPort: opts.dataPort,
        listen: opts.listen,
        logger,
        version: VERSION,
      });
      logger.addSecret(receiver.adminToken);
      process.stdout.write(`${JSON.stringify(receiver.ready)}\n`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          logger.info("receiver stopping", { signal });
          receiver.close().then(resolve, resolve);
        };
        process.once("SIGINT", () => stop("SIGINT"));
        process.once("SIGTERM", () => stop("SIGTERM"));
      });
    });
}

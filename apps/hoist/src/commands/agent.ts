import { abortAgentDaemon, runAgentDaemon } from "@hoist/agent";
import { HoistError } from "@hoist/protocol";
import { createLogger, type LogLevel } from "@hoist/runtime";
import { type Command, Option } from "commander";
import { VERSION } from "../version";
import { httpUrl, pathValue, textValue, tokenValue, wholeNumber } from "./flag-values";

export function registerAgentCommand(program: Command): void {
  program
    .command("agent")
    .description("Import this source into hoist server with an activation code, then keep it online with heartbeats.")
    .option("--activation-code <code>", "code from `hoist codes create` (needed only for the first start)", tokenValue("--activation-code", { max: 200, code: "Config.InvalidActivationCode" }))
    .option("--server <url>", "hoist server URL, e.g. http://10.0.0.5:8080", httpUrl("--server", "Config.InvalidServerUrl", { base: true }))
    .option("--source-root <dir>", "what to migrate: / for this machine, or a root tree in a folder", pathValue("--source-root", { exists: "dir", code: "Config.InvalidSourceRoot" }), "/")
    .option("--state-dir <dir>", "where the agent keeps its credential (0600) and pid file", pathValue("--state-dir", { code: "Config.InvalidStateDir" }), "/var/lib/hoist/agent")
    .option("--name <name>", "name shown in the console, 1–128 characters (default: the source's hostname)", textValue("--name", { max: 128, code: "Config.InvalidName" }))
    .option("--heartbeat-seconds <n>", "heartbeat period, 1–3600 (default: what the server asks for)", wholeNumber("--heartbeat-seconds", 1, 3600))
    .option("--abort", "stop the agent running with this --state-dir, and exit")
    .addOption(new Option("--log-level <level>", "least level printed on stderr").choices(["debug", "info", "warn", "error"]).default("info"))
    .addHelpText("after", "\nOn import it prints: Import Source Server [s-…] Successfully!\nRun as root on the source. A restarted agent resumes as the same source (no new code use).")
    .action(
      async (opts: { activationCode?: string; server?: string; sourceRoot: string; stateDir: string; name?: string; heartbeatSeconds?: number; abort?: boolean; logLevel: LogLevel }) => {
        if (opts.abort) {
          const pid = await abortAgentDaemon(opts.stateDir);
          process.stdout.write(`hoist agent (pid ${pid}) stopped\n`);
          return;
        }
        if (!opts.server) throw new HoistError("Config.MissingServer", "--server is required", { fix: "Pass --server http(s)://host:port of hoist server." });
        const logger = createLogger({ console: process.stderr, consoleLevel: opts.logLevel });
        if (opts.activationCode) logger.addSecret(opts.activationCode);
        const controller = new AbortController();
        const stop = () => controller.abort();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
        await runAgentDaemon({
          server: opts.server,
          activationCode: opts.activationCode,
          sourceRoot: opts.sourceRoot,
          stateDir: opts.stateDir,
          name: opts.name,
          heartbeatSeconds: opts.heartbeatSeconds,
          version: VERSION,
          logger,
          out: process.stdout,
          signal: controller.signal,
        });
      },
    );
}

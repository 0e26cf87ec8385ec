import { resolve } from "node:path";
import { formatCheckReport, runChecks } from "@hoist/agent";
import { HoistError } from "@hoist/protocol";
import type { Command } from "commander";
import { hostValue, pathValue, portNumber } from "./flag-values";

/** SHA-256 as the receiver prints it: 64 hex digits, optionally in colon-separated pairs. */
function fingerprint(value: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(value) && !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){31}$/.test(value)) {
    throw new HoistError("Config.InvalidFingerprint", `--fingerprint must be a SHA-256 fingerprint: 64 hex digits, with or without colons (got ${value.length} characters)`, {
      fix: "Pass the fingerprint the receiver printed when it started (its ready line, or receiver.json).",
    });
  }
  return value;
}

export function registerCheckCommand(program: Command): void {
  program
    .command("check")
    .description("Check that this server meets every requirement of a migration (root, rsync, SELinux, virtio, GRUB, clock, receiver ports).")
    .option("--source-root <dir>", "check the Linux tree in this folder instead of the running system", pathValue("--source-root", { exists: "dir", code: "Config.InvalidSourceRoot" }), "/")
    .option("--workdir <dir>", "the folder whose free space is checked (default: the current folder)", pathValue("--workdir", { exists: "dir", code: "Config.InvalidWorkdir" }))
    .option("--receiver <host>", "also check this receiver (intermediate instance): both ports, its certificate and the clock", hostValue("--receiver"))
    .option("--control-port <port>", "the receiver's HTTPS control port", portNumber("--control-port"), 8080)
    .option("--data-port <port>", "the receiver's TLS data port", portNumber("--data-port"), 8703)
    .option("--fingerprint <sha256>", "the SHA-256 fingerprint the receiver's certificate must have", fingerprint)
    .option("--json", "print the result as JSON")
    .addHelpText("after", "\nEach item prints OK, WARN or FAIL with what to do. The exit status is 1 when any item FAILs.")
    .action(async (opts: { sourceRoot: string; workdir?: string; receiver?: string; controlPort: number; dataPort: number; fingerprint?: string; json?: boolean }) => {
      const report = await runChecks({
        sourceRoot: resolve(opts.sourceRoot),
        workdir: resolve(opts.workdir ?? "."),
        controlPort: opts.controlPort,
        dataPort: opts.dataPort,
        ...(opts.receiver === undefined ? {} : { receiver: opts.receiver }),
        ...(opts.fingerprint === undefined ? {} : { fingerprint: opts.fingerprint }),
      });
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatCheckReport(report));
      if (!report.ok) process.exitCode = 1;
    });
}

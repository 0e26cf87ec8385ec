import { resolve } from "node:path";
import { formatCheckReport, runChecks } from "@hoist/agent";
import { HoistError } from "@hoist/protocol";
import type { Command } from "commander";

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new HoistError("Config.InvalidPort", `"${value}" is not a port number (1-65535)`);
  return n;
}

export function registerCheckCommand(program: Command): void {
  program
    .command("check")
    .description("Check that this server meets every requirement of a migration (root, rsync, SELinux, virtio, GRUB, clock, receiver ports).")
    .option("--source-root <dir>", "check the Linux tree in this folder instead of the running system", "/")
    .option("--workdir <dir>", "the folder whose free space is checked (default: the current folder)")
    .option("--receiver <host>", "also check this receiver (intermediate instance): both ports, its certificate and the clock")
    .option("--control-port <port>", "the receiver's HTTPS control port", port, 8080)
    .option("--data-port <port>", "the receiver's TLS data port", port, 8703)
    .option("--fingerprint <sha256>", "the SHA-256 fingerprint the receiver's certificate must have")
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

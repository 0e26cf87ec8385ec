// The one `hoist` executable. Each subcommand lives in its own file under
// commands/ and only wires flags to the packages that do the work; program.ts
// builds the command tree and reports failures with their stable codes.
import { forbidCoreDumps } from "@hoist/runtime";
import { reportCliError, runCli } from "./program";

// Node opens its debugger on SIGUSR1; an agent or server runs as root with
// tokens in memory, so that signal does nothing here.
process.on("SIGUSR1", () => {});
// For the same reason no hoist process, nor what it starts, leaves a core dump.
forbidCoreDumps();

try {
  await runCli(process.argv);
} catch (e) {
  const status = reportCliError(e, process.stderr);
  if (status === 0) process.exit(0);
  process.exitCode = status;
}

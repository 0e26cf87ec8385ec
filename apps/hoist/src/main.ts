// The one `hoist` executable. Each subcommand lives in its own file under
// commands/ and only wires flags to the packages that do the work.
import { Command, CommanderError } from "commander";
import { isHoistError } from "@hoist/protocol";
import { registerCommands } from "./commands/index";
import { VERSION } from "./version";

const program = new Command();
program
  .name("hoist")
  .description("Move a running Linux server into a bootable cloud image.")
  .version(VERSION, "-V, --version")
  .showHelpAfterError("(run hoist help <command> for its flags)")
  .exitOverride();

registerCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") process.exit(0);
    // commander already printed its message; add the stable code scripts can match.
    const code = e.code === "commander.unknownOption" ? "Cli.UnknownFlag" : e.code === "commander.unknownCommand" ? "Cli.UnknownCommand" : "Cli.InvalidArguments";
    process.stderr.write(`Error ${code}: see the message above; run hoist --help.\n`);
    process.exitCode = 2;
  } else if (isHoistError(e)) {
    process.stderr.write(`Error ${e.code}: ${e.message}\n${e.fix ? `Fix: ${e.fix}\n` : ""}`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`Error Internal.Error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  }
}

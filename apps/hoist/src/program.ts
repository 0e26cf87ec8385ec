// The `hoist` command tree, built fresh on each call so it can be parsed more
// than once (tests walk it and run it in-process), and the one place that
// turns a failure into the exit status and the "Error <code>" line on stderr.
import { Command, CommanderError, type OutputConfiguration } from "commander";
import { HoistError, isHoistError } from "@hoist/protocol";
import { registerCommands } from "./commands/index";
import { VERSION } from "./version";

export function createProgram(options: { output?: OutputConfiguration } = {}): Command {
  const program = new Command();
  program
    .name("hoist")
    .description("Move a running Linux server into a bootable cloud image.")
    .version(VERSION, "-V, --version")
    .showHelpAfterError("(run hoist help <command> for its flags)")
    .exitOverride();
  // Subcommands copy these settings when they are made, so they come first.
  if (options.output) program.configureOutput(options.output);
  registerCommands(program);
  return program;
}

/**
 * Runs `hoist` on argv (node, script, then the arguments). Arguments are
 * checked first: bytes that are not UTF-8 reach Node as U+FFFD, and a value
 * quietly changed that way must not reach a name, a path or the server.
 */
export async function runCli(argv: readonly string[], options: { output?: OutputConfiguration } = {}): Promise<void> {
  const args = argv.slice(2);
  args.forEach((arg, i) => {
    if (arg.includes("\ufffd") || arg.includes("\u0000")) {
      // Name the flag, never the value: it may be a secret.
      const flag = /^--?[A-Za-z][\w-]*(?==)/.exec(arg)?.[0] ?? (/^--?[A-Za-z]/.test(args[i - 1] ?? "") ? args[i - 1] : undefined);
      throw new HoistError("Cli.InvalidEncoding", `${flag ? `the value of ${flag} (argument ${i + 1})` : `argument ${i + 1}`} is not valid UTF-8 text`, {
        fix: "Pass arguments in UTF-8 (convert text in Latin-1 or another encoding first, e.g. with iconv).",
      });
    }
  });
  await createProgram(options).parseAsync([...argv]);
}

/** The stable code of a failure, as printed after "Error ". */
export function cliErrorCode(e: unknown): string {
  if (e instanceof CommanderError) {
    return e.code === "commander.unknownOption" ? "Cli.UnknownFlag" : e.code === "commander.unknownCommand" ? "Cli.UnknownCommand" : "Cli.InvalidArguments";
  }
  return isHoistError(e) ? e.code : "Internal.Error";
}

/** Writes what went wrong to stderr and returns the exit status (0 for --help and --version). */
export function reportCliError(e: unknown, stderr: { write(text: string): unknown }): number {
  if (e instanceof CommanderError) {
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return 0;
    // commander already printed its message; add the stable code scripts can match.
    stderr.write(`Error ${cliErrorCode(e)}: see the message above; run hoist --help.\n`);
    return 2;
  }
  if (isHoistError(e)) {
    stderr.write(`Error ${e.code}: ${e.message}\n${e.fix ? `Fix: ${e.fix}\n` : ""}`);
    return 1;
  }
  stderr.write(`Error Internal.Error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  return 1;
}

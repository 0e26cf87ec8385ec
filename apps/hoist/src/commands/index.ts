import type { Command } from "commander";

// Each command file exports a register function; the list keeps `--help` in a
// sensible order.
export function registerCommands(program: Command): void {
  void program;
}

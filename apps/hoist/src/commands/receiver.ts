import type { Command } from "commander";

export function registerReceiverCommand(program: Command): void {
  void program;
}

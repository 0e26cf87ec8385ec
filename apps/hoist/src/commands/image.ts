import type { Command } from "commander";

export function registerImageCommand(program: Command): void {
  void program;
}

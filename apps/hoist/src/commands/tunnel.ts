import type { Command } from "commander";

export function registerTunnelCommand(program: Command): void {
  void program;
}

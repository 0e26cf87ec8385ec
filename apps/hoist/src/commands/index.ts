import type { Command } from "commander";
import { registerAgentCommand } from "./agent";
import { registerCheckCommand } from "./check";
import { registerCodesCommand } from "./codes";
import { registerImageCommand } from "./image";
import { registerImagesCommand } from "./images";
import { registerJobsCommand } from "./jobs";
import { registerMigrateCommand } from "./migrate";
import { registerReceiverCommand } from "./receiver";
import { registerServerCommand } from "./server";
import { registerSourcesCommand } from "./sources";
import { registerTunnelCommand } from "./tunnel";

// Each command file exports a register function; the order here is the order
// of `hoist --help`.
export function registerCommands(program: Command): void {
  registerMigrateCommand(program);
  registerCheckCommand(program);
  registerReceiverCommand(program);
  registerImageCommand(program);
  registerTunnelCommand(program);
  registerServerCommand(program);
  registerAgentCommand(program);
  registerCodesCommand(program);
  registerSourcesCommand(program);
  registerJobsCommand(program);
  registerImagesCommand(program);
}

import { endOnRsyncCleanupSignal, parseTunnelEnv, remoteCommandFromRshArgs, runTunnel, TUNNEL_ENV } from "@hoist/transport";
import type { Command } from "commander";

// rsync's remote shell (`rsync -e "hoist tunnel" … hoist::MODULE`); the
// connection facts and token come from the environment, never from argv.
export function registerTunnelCommand(program: Command): void {
  program
    .command("tunnel", { hidden: true })
    .description(`rsync remote shell over pinned TLS to a receiver's data port (reads ${TUNNEL_ENV})`)
    .allowUnknownOption(true)
    .helpOption(false)
    .argument("[args...]", "what rsync passes: [-l user] HOST rsync --server --daemon .")
    .action(async (args: string[]) => {
      endOnRsyncCleanupSignal();
      const env = parseTunnelEnv(process.env[TUNNEL_ENV]);
      await runTunnel({ env, command: remoteCommandFromRshArgs(args) });
    });
}

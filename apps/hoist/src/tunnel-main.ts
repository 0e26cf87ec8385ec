// rsync's remote shell as its own small bundle (dist/tunnel.mjs). One runs per
// rsync stream for the whole copy, so it loads only the transport code: it
// starts faster and holds far less memory than the full CLI would.
// `hoist tunnel` does the same from the full bundle.
import { isHoistError } from "@hoist/protocol";
import { endOnRsyncCleanupSignal, parseTunnelEnv, remoteCommandFromRshArgs, runTunnel, TUNNEL_ENV } from "@hoist/transport";

endOnRsyncCleanupSignal();
try {
  await runTunnel({ env: parseTunnelEnv(process.env[TUNNEL_ENV]), command: remoteCommandFromRshArgs(process.argv.slice(2)) });
} catch (e) {
  // rsync shows this on its stderr; the agent reads the code back from it.
  if (isHoistError(e)) process.stderr.write(`Error ${e.code}: ${e.message}\n${e.fix ? `Fix: ${e.fix}\n` : ""}`);
  else process.stderr.write(`Error Internal.Error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}

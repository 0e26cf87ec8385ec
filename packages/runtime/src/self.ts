// How to start another `hoist` process (a receiver for the embedded
// intermediate instance, a tunnel for rsync) from inside this one. The CLI is
// one bundled file, so it is this file run by this Node.js.
import { fileURLToPath } from "node:url";

export function hoistCommand(): [string, ...string[]] {
  const fromEnv = process.env["HOIST_BIN"];
  if (fromEnv) return [fromEnv];
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith(".mjs")) return [process.execPath, here];
  return [process.execPath, process.argv[1] ?? "hoist"];
}

// Bundles the `hoist` CLI into one ESM file, so a source server needs only
// Node.js to run the agent (copy apps/hoist/dist/hoist.mjs and go).
import { build } from "esbuild";

await build({
  entryPoints: ["apps/hoist/src/main.ts"],
  outfile: "apps/hoist/dist/hoist.mjs",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: "linked",
  banner: {
    js: "import { createRequire as __hoistCreateRequire } from 'node:module'; const require = __hoistCreateRequire(import.meta.url);",
  },
  logLevel: "warning",
});

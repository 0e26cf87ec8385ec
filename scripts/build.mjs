// Bundles the `hoist` CLI into one ESM file, so a source server needs only
// Node.js to run the agent (copy apps/hoist/dist/hoist.mjs and go).
import { copyFileSync } from "node:fs";
import { build } from "esbuild";

const common = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: "linked",
  banner: {
    js: "import { createRequire as __hoistCreateRequire } from 'node:module'; const require = __hoistCreateRequire(import.meta.url);",
  },
  logLevel: "warning",
  // PGlite loads its WebAssembly beside its own module, so it stays in node_modules; pg-native is optional.
  external: ["@electric-sql/pglite", "pg-native"],
};

await build({ ...common, entryPoints: ["apps/hoist/src/main.ts"], outfile: "apps/hoist/dist/hoist.mjs" });
// rsync's remote shell, one per stream: kept apart so each loads only the transport.
await build({ ...common, entryPoints: ["apps/hoist/src/tunnel-main.ts"], outfile: "apps/hoist/dist/tunnel.mjs" });

// The web console: one browser bundle plus its page and styles, beside the CLI
// bundle so `hoist server` serves them from apps/hoist/dist/console.
const consoleOut = "apps/hoist/dist/console";
await build({
  entryPoints: ["apps/console/src/main.ts"],
  outfile: `${consoleOut}/app.js`,
  bundle: true,
  platform: "browser",
  format: "esm",
  target: ["chrome110", "firefox115", "safari16"],
  minify: true,
  sourcemap: "linked",
  logLevel: "warning",
});
for (const file of ["index.html", "app.css"]) copyFileSync(`apps/console/static/${file}`, `${consoleOut}/${file}`);

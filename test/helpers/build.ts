// Builds the `hoist` bundle when it is missing or older than any source it is
// made from, so a test run alone after an edit uses the edit, and a suite run
// (`npm test` builds first) does not build again.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");

function newestUnder(dir: string): number {
  if (!existsSync(dir)) return 0;
  let newest = 0;
  for (const f of readdirSync(dir, { recursive: true, encoding: "utf8" })) {
    if (f.includes("node_modules")) continue;
    newest = Math.max(newest, statSync(join(dir, f)).mtimeMs);
  }
  return newest;
}

export function buildIfStale(): void {
  const bundle = join(ROOT, "apps/hoist/dist/hoist.mjs");
  const built = existsSync(bundle) ? statSync(bundle).mtimeMs : 0;
  const sources = [join(ROOT, "apps/hoist/src"), join(ROOT, "apps/console/src"), join(ROOT, "apps/console/static"), ...readdirSync(join(ROOT, "packages")).map((p) => join(ROOT, "packages", p, "src"))];
  const newest = Math.max(statSync(join(ROOT, "scripts/build.mjs")).mtimeMs, ...sources.map(newestUnder));
  if (newest > built) execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: "ignore" });
}

/**
 * Bundles a small script written against the workspace packages (`@hoist/agent`, …) into one .mjs
 * that plain node runs in a child process (so a test can SIGKILL it or run it elsewhere).
 */
export async function bundleRunner(contents: string, outfile: string): Promise<string> {
  const { build } = await import("esbuild");
  await build({ ...RUNNER_BUNDLE, stdin: { contents, resolveDir: ROOT, loader: "ts" }, outfile });
  return outfile;
}

/** esbuild options for a test runner script: one ESM file for node 20 that may `require`. */
export const RUNNER_BUNDLE = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: "error",
} as const;

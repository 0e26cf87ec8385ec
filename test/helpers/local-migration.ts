// What the end-to-end tests of `hoist migrate` on the local provider start
// from: a folder of their own under /var/tmp (on disk, for loop devices and
// sparse files), hoist's home and image store inside it, and hoist run to
// completion with that environment.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HOIST } from "./server-cli";

export interface HoistRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface LocalMigration {
  base: string;
  /** hoist's whole environment: this process's, with HOIST_HOME and HOIST_IMAGE_STORE under `base`. */
  env: NodeJS.ProcessEnv & { HOIST_HOME: string; HOIST_IMAGE_STORE: string };
  /** Runs hoist with `env` and waits for it (30 minutes at the most, unless told). */
  hoist(args: string[], timeoutMs?: number): HoistRun;
}

/** A new folder /var/tmp/<prefix>XXXXXX for one test file, with hoist's home and image store in it. */
export function localMigration(prefix: string): LocalMigration {
  const base = mkdtempSync(join("/var/tmp", prefix));
  const env = { ...process.env, HOIST_HOME: join(base, "home"), HOIST_IMAGE_STORE: join(base, "images") };
  return {
    base,
    env,
    hoist(args, timeoutMs = 30 * 60_000) {
      const r = spawnSync(HOIST, args, { env, encoding: "utf8", timeout: timeoutMs });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
  };
}

/** Writes `config` as user_config.json in `dir` (made if missing): on one line, or indented by `space`. */
export function writeUserConfig(dir: string, config: object, space?: number): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "user_config.json"), JSON.stringify(config, null, space));
}

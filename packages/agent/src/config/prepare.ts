// Everything `hoist migrate` must know before it may touch anything: the
// settings and every disk's excludes, all read and checked, nothing written.
import { type DiskExcludes, readExcludes } from "../workdir";
import type { MigrateFlags } from "./flags";
import { type MigrateConfig, resolveMigrateConfig } from "./resolve";

export interface PreparedMigration {
  config: MigrateConfig;
  excludes: DiskExcludes;
}

/** Throws Config.InvalidJson, Config.Invalid or Config.InvalidExclude; creates no file. */
export function prepareMigration(input: { workdir?: string; flags?: MigrateFlags }): PreparedMigration {
  const config = resolveMigrateConfig(input);
  return { config, excludes: readExcludes(config.workdir, config.settings.data_disks) };
}

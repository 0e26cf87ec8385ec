// Settings of a one-shot migration: user_config.json, the flags over it, and their validation.
export { addMigrateOptions, type MigrateFlags, parseMigrateFlags } from "./flags";
export { decodeConfigText, locateJsonError, MAX_CONFIG_BYTES, parseConfigJson, readConfigBytes } from "./json-text";
export { type MigrateConfig, migrateSecrets, type NetMode, parseDataDisksFlag, resolveMigrateConfig } from "./resolve";
export { type PreparedMigration, prepareMigration } from "./prepare";

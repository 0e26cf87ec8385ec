// Where the AccessKey comes from: the user's configuration (user_config.json
// access_id/secret_key or --accessid/--secretkey), the environment
// (ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET, optional ALIBABA_CLOUD_SECURITY_TOKEN),
// or a credentials file that nobody but its owner can read. The secret is
// kept in memory only; callers register it with the logger's redaction.
import { readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { HoistError } from "@hoist/protocol";

export interface AlibabaCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
  /** Where they were found ("config", "environment" or the file's path); never the values. */
  source: string;
}

export interface CredentialSources {
  accessKeyId?: string;
  accessKeySecret?: string;
  env?: NodeJS.ProcessEnv;
  /** A credentials file (default $ALIBABA_CLOUD_CREDENTIALS_FILE or ~/.alibabacloud/credentials). */
  file?: string;
}

export function defaultCredentialsFile(env: NodeJS.ProcessEnv = process.env): string {
  return env["ALIBABA_CLOUD_CREDENTIALS_FILE"] ?? join(homedir(), ".alibabacloud", "credentials");
}

/** Reads the [default] section (or the only one) of an INI credentials file: access_key_id, access_key_secret, security_token. */
export function parseCredentialsFile(text: string, path: string): { accessKeyId: string; accessKeySecret: string; securityToken?: string } {
  const sections = new Map<string, Map<string, string>>();
  let current = "default";
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      current = (header[1] ?? "").trim();
      continue;
    }
    const kv = /^([A-Za-z_]+)\s*=\s*(.*)$/.exec(line);
    if (!kv) continue;
    const section = sections.get(current) ?? new Map<string, string>();
    section.set((kv[1] ?? "").toLowerCase(), (kv[2] ?? "").trim().replace(/^"(.*)"$/, "$1"));
    sections.set(current, section);
  }
  const section = sections.get("default") ?? (sections.size === 1 ? [...sections.values()][0] : undefined);
  const id = section?.get("access_key_id");
  const secret = section?.get("access_key_secret");
  if (!id || !secret) {
    throw new HoistError("Credentials.Invalid", `${path} has no access_key_id and access_key_secret in its [default] section`, {
      fix: `Write them as:\n[default]\naccess_key_id = LTAI…\naccess_key_secret = …`,
    });
  }
  const token = section?.get("security_token");
  return { accessKeyId: id, accessKeySecret: secret, ...(token ? { securityToken: token } : {}) };
}

export function resolveCredentials(sources: CredentialSources = {}): AlibabaCredentials {
  const env = sources.env ?? process.env;
  if (sources.accessKeyId || sources.accessKeySecret) {
    if (!sources.accessKeyId || !sources.accessKeySecret) {
      throw new HoistError("Credentials.Incomplete", "an AccessKey needs both access_id and secret_key", {
        fix: "Give both access_id and secret_key (or --accessid and --secretkey), or neither to use the environment or the credentials file.",
      });
    }
    return { accessKeyId: sources.accessKeyId, accessKeySecret: sources.accessKeySecret, source: "config" };
  }
  const envId = env["ALIBABA_CLOUD_ACCESS_KEY_ID"];
  const envSecret = env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"];
  if (envId && envSecret) {
    const token = env["ALIBABA_CLOUD_SECURITY_TOKEN"];
    return { accessKeyId: envId, accessKeySecret: envSecret, ...(token ? { securityToken: token } : {}), source: "environment" };
  }
  const file = sources.file ?? defaultCredentialsFile(env);
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    throw new HoistError("Credentials.Missing", "no Alibaba Cloud AccessKey was given", {
      fix: `Set access_id and secret_key in user_config.json, or ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or write ${file} (mode 0600).`,
    });
  }
  if ((mode & 0o077) !== 0) {
    throw new HoistError("Credentials.FileTooOpen", `${file} can be read by other users (mode ${(mode & 0o777).toString(8).padStart(4, "0")})`, {
      fix: `Run chmod 600 ${file}; an AccessKey file must be readable by its owner only.`,
    });
  }
  return { ...parseCredentialsFile(readFileSync(file, "utf8"), file), source: file };
}

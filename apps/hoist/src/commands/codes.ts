import { ControlPlaneClient } from "@hoist/agent";
import { type ActivationCode, type CreatedActivationCode, HoistError } from "@hoist/protocol";
import type { Command } from "commander";
import { httpUrl, tokenValue } from "./flag-values";

const serverUrl = httpUrl("--server", "Config.InvalidServerUrl", { base: true });
const apiKey = tokenValue("--api-key", { max: 512, code: "Config.InvalidApiKey" });

export interface ApiFlags {
  server?: string;
  apiKey?: string;
  json?: boolean;
}

/** --server/--api-key with HOIST_SERVER/HOIST_API_KEY as defaults; shared by the API subcommands. */
export function apiClient(opts: ApiFlags): ControlPlaneClient {
  // The flags were checked as they were read; values from the environment are checked here the same way.
  const envServer = process.env["HOIST_SERVER"];
  const server = opts.server ?? (envServer ? httpUrl("HOIST_SERVER", "Config.InvalidServerUrl", { base: true })(envServer) : undefined);
  if (!server) throw new HoistError("Config.MissingServer", "no server given", { fix: "Pass --server http(s)://host:port or set HOIST_SERVER." });
  const envKey = process.env["HOIST_API_KEY"];
  const key = opts.apiKey ?? (envKey ? tokenValue("HOIST_API_KEY", { max: 512, code: "Config.InvalidApiKey" })(envKey) : undefined);
  if (!key) throw new HoistError("Config.MissingApiKey", "no API key given", { fix: "Pass --api-key or set HOIST_API_KEY (hoist server printed one on first start)." });
  return new ControlPlaneClient({ server, token: key });
}

export function withApiFlags(cmd: Command): Command {
  return cmd
    .option("--server <url>", "hoist server URL (default: $HOIST_SERVER)", serverUrl)
    .option("--api-key <key>", "API key (default: $HOIST_API_KEY)", apiKey)
    .option("--json", "print JSON for scripts");
}

export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return `${rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd()).join("\n")}\n`;
}

function count(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    // Range errors come from the server, with the same codes the API uses; only non-numbers stop here.
    if (!/^-?\d+(\.\d+)?$/.test(v)) throw new HoistError("Config.InvalidNumber", `${name} must be a number from ${min} to ${max} (got "${v}")`);
    return n;
  };
}

export function registerCodesCommand(program: Command): void {
  const codes = program.command("codes").description("Activation codes that import source servers into hoist server.");
  withApiFlags(
    codes
      .command("create")
      .description("Create an activation code and print the one-line command to run on sources")
      .option("--uses <n>", "how many sources may import with it (1–1000)", count("--uses", 1, 1000), 200)
      .option("--validity-days <n>", "days it stays valid (1–90)", count("--validity-days", 1, 90), 90)
      .option("--description <text>", "a note shown in the list"),
  ).action(async (opts: ApiFlags & { uses: number; validityDays: number; description?: string }) => {
    const made = await apiClient(opts).request<CreatedActivationCode>("POST", "/v1/activation-codes", {
      uses: opts.uses,
      validityDays: opts.validityDays,
      ...(opts.description === undefined ? {} : { description: opts.description }),
    });
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(made, null, 2)}\n`);
      return;
    }
    process.stdout.write(
      `Activation code ${made.codeId}: ${made.uses} use(s), valid until ${made.expiresAt}\nCode (shown once): ${made.code}\n\nRun as root on each source:\n  ${made.command}\n`,
    );
  });
  withApiFlags(codes.command("list").description("List activation codes (uses left, expiry)")).action(async (opts: ApiFlags) => {
    const { codes: list } = await apiClient(opts).request<{ codes: ActivationCode[] }>("GET", "/v1/activation-codes");
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      return;
    }
    process.stdout.write(table([["CODE ID", "USES LEFT", "EXPIRES", "DESCRIPTION"], ...list.map((c) => [c.codeId, `${c.usesLeft}/${c.uses}`, c.expired ? `expired ${c.expiresAt}` : c.expiresAt, c.description])]));
  });
}

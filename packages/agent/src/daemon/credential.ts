// The agent's own credential, issued at import: kept 0600 in its state folder
// so a restarted agent resumes as the same source instead of spending another
// activation-code use.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HoistError } from "@hoist/protocol";
import { z } from "zod";

const CredentialSchema = z.object({ server: z.string(), sourceId: z.string(), agentToken: z.string(), heartbeatSeconds: z.number().int().positive() });
export type AgentCredential = z.infer<typeof CredentialSchema>;

export const credentialPath = (stateDir: string): string => join(stateDir, "agent.json");

export function ensureStateDir(stateDir: string): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  chmodSync(stateDir, 0o700);
}

export function loadCredential(stateDir: string): AgentCredential | null {
  const path = credentialPath(stateDir);
  if (!existsSync(path)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    // JSON.parse quotes the text around a syntax error, and this text holds the agent's token: say nothing of it.
    throw new HoistError("Agent.CredentialUnreadable", `the agent's credential ${path} is damaged (not valid JSON)`, {
      fix: `Delete ${path} and import this source again with a new activation code (hoist agent --activation-code …).`,
    });
  }
  const parsed = CredentialSchema.safeParse(raw);
  return parsed.success ? parsed.data : null;
}

export function saveCredential(stateDir: string, cred: AgentCredential): void {
  const path = credentialPath(stateDir);
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(cred, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function forgetCredential(stateDir: string): void {
  rmSync(credentialPath(stateDir), { force: true });
}

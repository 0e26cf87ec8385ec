// Identifiers and secrets. Secrets (API keys, activation codes, agent tokens)
// carry 256 random bits, so a plain SHA-256 is enough to store them: nothing
// short enough to guess sits behind the hash. Lookups go by hash.
import { createHash, randomBytes } from "node:crypto";

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

/** `s-…` style identifiers as SMC shows them: a prefix and lowercase letters and digits. */
export function newId(prefix: string, length = 20): string {
  const bytes = randomBytes(length);
  let out = "";
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return `${prefix}-${out}`;
}

export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString("base64url")}`;
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

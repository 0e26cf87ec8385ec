// Activation codes: a secret that lets up to `uses` sources import themselves
// until it expires. Redeeming takes one use atomically (a conditional UPDATE),
// so concurrent imports never overspend a code, on one replica or many.
import { ACTIVATION_CODE_LIMITS, type ActivationCode, HoistError } from "@hoist/protocol";
import type { Queryable } from "../db/database";
import { iso } from "./rows";
import { hashSecret, newId, newSecret } from "./secrets";

export interface NewActivationCode {
  uses: number;
  validityDays: number;
  description: string;
}

interface CodeRow extends Record<string, unknown> {
  code_id: string;
  description: string;
  uses_total: number;
  uses_left: number;
  created_at: unknown;
  expires_at: unknown;
  expired: boolean;
}

const COLUMNS = "code_id, description, uses_total, uses_left, created_at, expires_at, expires_at <= now() as expired";

function toCode(r: CodeRow): ActivationCode {
  return { codeId: r.code_id, description: r.description, uses: r.uses_total, usesLeft: r.uses_left, createdAt: iso(r.created_at), expiresAt: iso(r.expires_at), expired: r.expired };
}

/** Checks the ranges SMC's console allows; the API answers 400 with these codes. */
export function validateNewCode(input: { uses?: unknown; validityDays?: unknown; description?: unknown }): NewActivationCode {
  const L = ACTIVATION_CODE_LIMITS;
  const uses = input.uses === undefined ? L.uses.default : input.uses;
  if (typeof uses !== "number" || !Number.isInteger(uses) || uses < L.uses.min || uses > L.uses.max) {
    throw new HoistError("ActivationCode.InvalidUses", `uses must be a whole number from ${L.uses.min} to ${L.uses.max} (got ${JSON.stringify(uses)})`, {
      fix: `Pick how many sources may import with this code, ${L.uses.min}–${L.uses.max}; the default is ${L.uses.default}.`,
    });
  }
  const validityDays = input.validityDays === undefined ? L.validityDays.default : input.validityDays;
  if (typeof validityDays !== "number" || !Number.isInteger(validityDays) || validityDays < L.validityDays.min || validityDays > L.validityDays.max) {
    throw new HoistError("ActivationCode.InvalidValidity", `validityDays must be a whole number from ${L.validityDays.min} to ${L.validityDays.max} (got ${JSON.stringify(validityDays)})`, {
      fix: `Pick how many days the code stays valid, ${L.validityDays.min}–${L.validityDays.max}; the default is ${L.validityDays.default}.`,
    });
  }
  const description = input.description === undefined ? "" : input.description;
  if (typeof description !== "string" || description.length > L.descriptionMax) {
    throw new HoistError("ActivationCode.InvalidDescription", `description must be text of at most ${L.descriptionMax} characters`, { fix: "Shorten the description." });
  }
  return { uses, validityDays, description };
}

export async function createActivationCode(db: Queryable, input: NewActivationCode): Promise<ActivationCode & { code: string }> {
  const code = newSecret("hac");
  const rows = await db.query<CodeRow>(
    `insert into activation_codes (code_id, code_hash, description, uses_total, uses_left, expires_at)
     values ($1, $2, $3, $4, $4, now() + make_interval(days => $5::int))
     returning ${COLUMNS}`,
    [newId("ac"), hashSecret(code), input.description, input.uses, input.validityDays],
  );
  const row = rows[0];
  if (!row) throw new HoistError("Internal.Error", "the activation code was not stored", { retryable: true });
  return { ...toCode(row), code };
}

export async function listActivationCodes(db: Queryable): Promise<ActivationCode[]> {
  return (await db.query<CodeRow>(`select ${COLUMNS} from activation_codes order by created_at desc, code_id`)).map(toCode);
}

/** Takes one use of `code` and returns its id; refuses unknown, expired and used-up codes with their codes. */
export async function redeemActivationCode(tx: Queryable, code: string): Promise<string> {
  const hash = hashSecret(code);
  const taken = await tx.query<{ code_id: string }>(
    "update activation_codes set uses_left = uses_left - 1 where code_hash = $1 and uses_left > 0 and expires_at > now() returning code_id",
    [hash],
  );
  if (taken[0]) return taken[0].code_id;
  const found = await tx.query<CodeRow>(`select ${COLUMNS} from activation_codes where code_hash = $1`, [hash]);
  const row = found[0];
  if (!row) {
    throw new HoistError("ActivationCode.Invalid", "the activation code is not known to this server", { fix: "Copy the code again from `hoist codes create`, and check --server points at the server that made it." });
  }
  if (row.expired) {
    throw new HoistError("ActivationCode.Expired", `activation code ${row.code_id} expired at ${iso(row.expires_at)}`, { fix: "Create a new code with `hoist codes create` and run the new command." });
  }
  throw new HoistError("ActivationCode.UsedUp", `activation code ${row.code_id} has imported its ${row.uses_total} source(s) already`, {
    fix: "Create a new code with `hoist codes create --uses N` and run the new command.",
  });
}

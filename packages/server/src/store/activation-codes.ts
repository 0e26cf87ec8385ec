// Activation codes: a secret that lets up to `uses` sources import themselves
// until it expires. Redeeming takes one use atomically (a conditional UPDATE),
// so concurrent imports never overspend a code, on one replica or many.
import { type ActivationCode, HoistError, type NewActivationCode } from "@hoist/protocol";
import type { Queryable } from "../db/database";
import { iso } from "./rows";
import { hashSecret, newId, newSecret } from "./secrets";

export { type NewActivationCode, validateNewCode } from "@hoist/protocol";

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

// HTTP statuses for error codes. Validation and state errors are 400 (as
// SMC's API answers them); credentials 401/403; unknown things 404.
import { HoistError, isHoistError } from "@hoist/protocol";

const EXACT: Record<string, number> = {
  "ActivationCode.Invalid": 401,
  "ActivationCode.Expired": 403,
  "ActivationCode.UsedUp": 403,
  "Api.MethodNotAllowed": 405,
  "Api.BodyTooLarge": 413,
  "Api.UnsupportedMediaType": 415,
  "AgentTask.NotRunning": 409,
  "Database.Unavailable": 503,
};

export function statusOf(e: HoistError): number {
  const exact = EXACT[e.code];
  if (exact) return exact;
  if (e.code.endsWith(".Unauthorized")) return 401;
  if (e.code.endsWith(".NotFound")) return 404;
  if (e.code.startsWith("Internal.")) return 500;
  return e.retryable ? 500 : 400;
}

export function toApiError(e: unknown): HoistError {
  if (isHoistError(e)) return e as HoistError;
  const msg = e instanceof Error ? e.message : String(e);
  // Lost database connections surface from the driver as plain errors.
  if (/ECONNREFUSED|Connection terminated|connection .*closed/i.test(msg)) {
    return new HoistError("Database.Unavailable", "the database is not reachable", { retryable: true, fix: "Check the PostgreSQL server behind DATABASE_URL." });
  }
  return new HoistError("Internal.Error", "the server failed to answer this request", { retryable: true, fix: "Retry; if it keeps failing, look at the hoist server log." });
}

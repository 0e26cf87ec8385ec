// Every failure a user can see carries a stable code. Callers tell errors apart
// by `code`, never by class, and `retryable` says whether running the same
// command again can help without changing anything.

export interface HoistErrorOptions {
  /** What the user should do about it. */
  fix?: string;
  /** Whether retrying the same action, unchanged, may succeed. */
  retryable?: boolean;
  /** Extra facts for logs and reports (never secrets). */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class HoistError extends Error {
  readonly code: string;
  readonly fix: string | undefined;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, options: HoistErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HoistError";
    this.code = code;
    this.fix = options.fix;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }

  toJSON(): { code: string; message: string; fix?: string; retryable: boolean; details?: Record<string, unknown> } {
    return {
      code: this.code,
      message: this.message,
      ...(this.fix === undefined ? {} : { fix: this.fix }),
      retryable: this.retryable,
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

export function isHoistError(value: unknown): value is HoistError {
  return value instanceof HoistError || (typeof value === "object" && value !== null && "code" in value && (value as { name?: unknown }).name === "HoistError");
}

/** Wraps anything thrown into a HoistError, keeping an existing code. */
export function toHoistError(value: unknown, fallbackCode = "Internal.Error"): HoistError {
  if (value instanceof HoistError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new HoistError(fallbackCode, message, { cause: value, retryable: true });
}

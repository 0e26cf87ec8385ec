// Alibaba Cloud's error codes turned into Hoist errors a user can act on, as
// seed 002's FAQ explains them: the account's balance, the RAM policies the
// AccessKey lacks, a RAM user where the account is needed, quotas, stock.
// Throttling and transient server errors are retried with backoff first.
import { HoistError } from "@hoist/protocol";

export interface ApiFailure {
  product: string;
  action: string;
  code: string;
  message: string;
  requestId?: string;
  statusCode?: number;
}

const NETWORK = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|EPIPE|ReadTimeout|ConnectTimeout)/;

/** The facts of an SDK error (ClientError, ServerError, ThrottlingError or a network error). */
export function apiFailure(product: string, action: string, e: unknown): ApiFailure {
  const err = (e ?? {}) as { code?: unknown; message?: unknown; requestId?: unknown; statusCode?: unknown; data?: { Message?: unknown } };
  const message = typeof err.data?.Message === "string" ? err.data.Message : typeof err.message === "string" ? err.message : String(e);
  // The SDK's own network errors carry no code, only a message that starts with what happened ("ConnectTimeout: …", "ReadTimeout(60000)").
  const code = typeof err.code === "string" ? err.code : (NETWORK.exec(message)?.[1] ?? "Unknown");
  return {
    product,
    action,
    code,
    message,
    ...(typeof err.requestId === "string" && err.requestId !== "undefined" ? { requestId: err.requestId } : {}),
    ...(typeof err.statusCode === "number" ? { statusCode: err.statusCode } : {}),
  };
}


/** Worth sending again unchanged after a pause. */
export function isTransient(f: ApiFailure): boolean {
  return /Throttling/.test(f.code) || f.code === "ServiceUnavailable" || f.code === "InternalError" || (f.statusCode !== undefined && f.statusCode >= 500) || NETWORK.test(f.code);
}

/** The requested instance type (or disk category) has no stock in the zone: try the next one. */
export function isOutOfStock(f: ApiFailure): boolean {
  return /NoStock|ResourceNotAvailable|Zone\.NotOnSale|InvalidResourceType\.NotSupported|InvalidInstanceType\.(ZoneNotSupported|NotSupported)/.test(f.code);
}

const RAM_POLICY: Record<string, string> = { ecs: "AliyunECSFullAccess", vpc: "AliyunVPCFullAccess", oss: "AliyunOSSFullAccess", ens: "AliyunENSFullAccess" };

export function toHoistError(f: ApiFailure): HoistError {
  const where = `${f.product.toUpperCase()} ${f.action}`;
  const details = { product: f.product, action: f.action, apiCode: f.code, ...(f.requestId ? { requestId: f.requestId } : {}) };
  if (/NotEnoughBalance|Arrearage|InsufficientBalance/.test(f.code)) {
    return new HoistError("Alibaba.NotEnoughBalance", `${where} refused: the account's balance is too low (${f.code})`, {
      fix: "The intermediate instance is pay-as-you-go: creating it needs a balance of at least 100 RMB on one of the account's payment methods. Top up the account, then run again.",
      details,
    });
  }
  if (/^Forbidden\.Sub[Uu]ser/.test(f.code)) {
    return new HoistError("Alibaba.ForbiddenSubuser", `${where} refused: a RAM user may not do this (${f.code})`, {
      fix: "Creating the intermediate instance needs the Alibaba Cloud account itself: use the account's AccessKey ID and AccessKey secret, or ask the account owner to allow the RAM user to create instances.",
      details,
    });
  }
  if (/^Forbidden\.RAM|^Forbidden\.NoPermission|^NoPermission|^Forbidden$/.test(f.code)) {
    const needed = RAM_POLICY[f.product] ?? "AliyunECSFullAccess";
    return new HoistError("Alibaba.ForbiddenRAM", `${where} refused: the AccessKey's RAM user lacks the permission (${f.code}); it needs ${needed}`, {
      fix: `Ask the Alibaba Cloud account owner to grant the RAM user the ${needed} policy (Hoist needs AliyunECSFullAccess and AliyunVPCFullAccess${f.product === "oss" || f.product === "ens" ? `, and ${needed} for this target` : ""}), then run again.`,
      details: { ...details, policy: needed },
    });
  }
  if (/QuotaExceed|Quota\.|LimitExceed|QuotaExceeded/.test(f.code)) {
    return new HoistError("Alibaba.QuotaExceeded", `${where} refused: a quota of the account is used up (${f.code}: ${f.message})`, {
      fix: "Release resources you no longer need (instances, disks, snapshots, images, security groups) or raise the quota in the Quota Center console, then run again.",
      details,
    });
  }
  if (/^NoSuchBucket/.test(f.code)) {
    return new HoistError("Alibaba.NoSuchBucket", `the OSS bucket does not exist (${f.code})`, {
      fix: "Create the transit bucket in region_id (the transit region) or name an existing one with --transit-bucket.",
      details,
    });
  }
  if (isOutOfStock(f)) {
    return new HoistError("Alibaba.OutOfStock", `${where}: no stock for the requested resource (${f.code})`, {
      fix: "Choose another zone (--zoneid) or instance type, or try again later.",
      retryable: true,
      details,
    });
  }
  if (/InvalidAccessKeyId|SignatureDoesNotMatch|IncompleteSignature|InvalidAccessKeySecret|InvalidSecurityToken/.test(f.code)) {
    return new HoistError("Credentials.Rejected", `Alibaba Cloud did not accept the AccessKey (${f.code})`, {
      fix: "Check access_id and secret_key (or the environment / credentials file): the AccessKey may be wrong, disabled or deleted.",
      details,
    });
  }
  if (isTransient(f)) {
    return new HoistError("Alibaba.Unavailable", `${where} kept failing: ${f.code}: ${f.message}`, {
      fix: NETWORK.test(f.code) ? "Check that this host reaches the Alibaba Cloud endpoints over HTTPS (443), then run again." : "The API is throttling or unavailable; wait a few minutes and run again.",
      retryable: true,
      details,
    });
  }
  return new HoistError("Alibaba.ApiError", `${where} failed: ${f.code}: ${f.message}`, {
    fix: "Look the code up in Alibaba Cloud's API error center; the request ID in the log helps support trace it.",
    details,
  });
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 1000, maxDelayMs: 20_000 };

/** Exponential backoff with full jitter. */
export function backoffMs(policy: RetryPolicy, attempt: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(cap / 2 + Math.random() * (cap / 2));
}

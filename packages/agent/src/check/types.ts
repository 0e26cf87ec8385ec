// One pre-flight finding: what was looked at, what was found, and what to do
// when it is not right. A FAIL stops a migration; a WARN is worth reading.
export type CheckStatus = "OK" | "WARN" | "FAIL";

export interface CheckItem {
  /** Stable id, e.g. "rsync", "virtio", "clock". */
  id: string;
  status: CheckStatus;
  /** What was found, in one sentence. */
  detail: string;
  /** What to do about a WARN or FAIL. */
  fix?: string;
}

export interface CheckOptions {
  /** The tree being migrated; "/" is the running system. */
  sourceRoot: string;
  /** The folder holding user_config.json and Logs/. */
  workdir: string;
  /** Host of a running receiver (the intermediate instance). */
  receiver?: string;
  controlPort: number;
  dataPort: number;
  /** Expected SHA-256 of the receiver's certificate. */
  fingerprint?: string;
  /** Milliseconds each network probe may take. */
  timeoutMs?: number;
}

export const CLOCK_SKEW_LIMIT_SECONDS = 60;

export interface ImageVerification {
  status: "unverified" | "booted" | "failed";
  bootSeconds?: number;
  reachedMultiUser?: boolean;
  mountedAll?: boolean;
  consoleLogPath?: string;
  reason?: string;
}

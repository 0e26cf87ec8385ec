// Reads a booting instance's serial console (GetInstanceConsoleOutput) the
// way the local boot check reads QEMU's: multi-user reached and the report
// line listing every mounted filesystem, or a failure, or the time is up.
import type { ImageVerification } from "@hoist/protocol";
import { missingMounts, readConsole } from "@hoist/images";

/** A verdict, or null while the boot is still going. */
export function judgeConsole(text: string, expectedMounts: string[], timedOut: boolean, timeoutSeconds: number): Omit<ImageVerification, "bootSeconds" | "verifiedAt"> | null {
  const reading = readConsole(text);
  if (reading.failure && /emergency|maintenance|panic|ALERT|no such device|not found/i.test(reading.failure)) {
    return { status: "failed", reachedMultiUser: reading.reachedMultiUser, mountedAll: false, reason: reading.failure };
  }
  if (reading.verifyLine) {
    const missing = missingMounts(reading, text, expectedMounts);
    return missing.length === 0
      ? { status: "booted", reachedMultiUser: true, mountedAll: true }
      : { status: "failed", reachedMultiUser: true, mountedAll: false, reason: `not mounted: ${missing.join(", ")}` };
  }
  if (timedOut) return { status: "failed", reachedMultiUser: reading.reachedMultiUser, mountedAll: false, reason: `no multi-user system after ${timeoutSeconds} s` };
  return null;
}

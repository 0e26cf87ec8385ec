// rsync's exit codes (and the tunnel's own error line on stderr) become
// HoistErrors a user can act on; the retryable ones are what a rerun resumes.
import { HoistError } from "@hoist/protocol";

export interface RsyncOutcome {
  ok: boolean;
  /** Source files vanished while copying (normal on a live server). */
  vanished: boolean;
  error?: HoistError;
}

/** What to do about a refusal the receiver names only by its code. */
const FIXES: Record<string, string> = {
  "Receiver.DiskFull": "Free space on the intermediate instance's target disk, or give the target a larger disk (system disk size or data disk size) or exclude more, then run the transfer again; it resumes.",
};

export function interpretRsyncExit(code: number | null, signal: string | null, stderr: string): RsyncOutcome {
  const tail = stderr.trim().split("\n").slice(-6).join("\n");
  const details = { exitCode: code, signal, stderr: tail.slice(-1500) };
  if (code === 0) return { ok: true, vanished: false };
  if (code === 24) return { ok: true, vanished: true };
  if (/No space left on device|ENOSPC/.test(stderr)) {
    return {
      ok: false,
      vanished: false,
      error: new HoistError("Receiver.DiskFull", "the target disk on the intermediate instance is full", {
        fix: "Give the target a larger disk (system disk size or data disk size) or exclude more, then run the transfer again.",
        retryable: false,
        details,
      }),
    };
  }
  // The tunnel reports why the receiver refused us in hoist's own error line.
  const own = /Error ((?:Receiver|Transport)\.[A-Za-z]+): ([^\n]*)(?:\nFix: ([^\n]*))?/.exec(stderr);
  if (own?.[1]) {
    const retryable = /^Transport\.(ConnectFailed|ConnectTimeout|Timeout|Closed)$/.test(own[1]);
    const fix = own[3] ?? FIXES[own[1]];
    return { ok: false, vanished: false, error: new HoistError(own[1], own[2] ?? "the receiver refused the connection", { retryable, details, ...(fix ? { fix } : {}) }) };
  }
  if (signal) {
    return { ok: false, vanished: false, error: new HoistError("Transfer.Interrupted", `rsync was stopped by ${signal}`, { retryable: true, fix: "Run the transfer again; it resumes.", details }) };
  }
  switch (code) {
    case 23:
      return {
        ok: false,
        vanished: false,
        error: new HoistError("Transfer.Partial", `some files could not be copied: ${tail}`, { retryable: true, fix: "Check the listed files (permissions, I/O errors) and run again.", details }),
      };
    case 30:
    case 35:
      return {
        ok: false,
        vanished: false,
        error: new HoistError("Transfer.Timeout", "the connection to the receiver stalled", { retryable: true, fix: "Check the network path to the data port and run again; it resumes.", details }),
      };
    case 5:
    case 10:
    case 12:
    case 14:
    case 20:
    case 255:
      return {
        ok: false,
        vanished: false,
        error: new HoistError("Transfer.ConnectionLost", `the connection to the receiver was lost (rsync exit ${code})`, { retryable: true, fix: "Run the transfer again; it resumes where it stopped.", details }),
      };
    case 11:
      // The sender's write into the tunnel failed: the receiver went away, not a local file.
      // A sender that dies of the broken pipe before it can say so leaves nothing on stderr;
      // a local file error always names the file.
      if (/write error: (Broken pipe|Connection reset)|connection unexpectedly closed/.test(stderr) || tail === "") {
        return {
          ok: false,
          vanished: false,
          error: new HoistError("Transfer.ConnectionLost", "the receiver closed the connection during the copy", { retryable: true, fix: "Run the transfer again; it resumes where it stopped.", details }),
        };
      }
      return { ok: false, vanished: false, error: new HoistError("Transfer.FileIO", `rsync hit a file I/O error: ${tail}`, { retryable: true, details }) };
    default:
      return { ok: false, vanished: false, error: new HoistError("Transfer.RsyncFailed", `rsync failed (exit ${code}): ${tail}`, { retryable: false, details }) };
  }
}

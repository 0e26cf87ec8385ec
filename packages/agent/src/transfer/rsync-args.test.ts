import { describe, expect, it } from "vitest";
import { buildRsyncArgs, rshString, zstdLevel } from "./rsync-args";
import { interpretRsyncExit } from "./rsync-exit";

const base = { source: "/src/", module: "system", filterFile: "/tmp/f.rules", tunnel: ["/usr/bin/node", "/opt/hoist dir/hoist.mjs", "tunnel"] };

describe("rsync argv", () => {
  it("builds the default command line", () => {
    const args = buildRsyncArgs(base);
    expect(args.slice(0, 4)).toEqual(["-aHAXS", "--numeric-ids", "--delete", "--partial-dir=.hoist-partial"]);
    expect(args).toContain("--from0");
    expect(args).toContain("--filter=merge /tmp/f.rules");
    expect(args).not.toContain("-z");
    expect(args).not.toContain("-c");
    expect(args.some((a) => a.startsWith("--bwlimit"))).toBe(false);
    expect(args.slice(-4)).toEqual(["-e", '/usr/bin/node "/opt/hoist dir/hoist.mjs" tunnel', "/src/", "hoist::system/"]);
  });

  it("adds bandwidth, checksum and compression when asked", () => {
    const args = buildRsyncArgs({ ...base, bandwidthKBps: 512.7, checksum: true, compression: 10 });
    expect(args).toContain("--bwlimit=512");
    expect(args).toContain("-c");
    expect(args).toEqual(expect.arrayContaining(["-z", "--zc=zstd", "--zl=6"]));
    // The levels climb with the setting, on zstd's fast end; the default 7 is zstd 1.
    const levels = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(zstdLevel);
    expect(levels).toEqual([...levels].sort((a, b) => a - b));
    expect(new Set(levels).size).toBe(10);
    expect(zstdLevel(7)).toBe(1);
    expect(zstdLevel(1)).toBeLessThan(0);
    expect(Math.max(...levels)).toBeLessThanOrEqual(6);
  });

  it("leaves --delete out of the folder pass and refuses bad modules and levels", () => {
    expect(buildRsyncArgs({ ...base, foldersOnly: true })).not.toContain("--delete");
    expect(() => buildRsyncArgs({ ...base, module: "../etc" })).toThrow(/not a target disk/);
    expect(() => buildRsyncArgs({ ...base, compression: 11 })).toThrow(/outside 0–10/);
    expect(() => rshString(['/a"b'])).toThrow();
  });
});

describe("rsync exit codes", () => {
  it("maps them to codes a user can act on", () => {
    expect(interpretRsyncExit(0, null, "").ok).toBe(true);
    expect(interpretRsyncExit(24, null, "file has vanished")).toEqual({ ok: true, vanished: true });
    expect(interpretRsyncExit(12, null, "connection unexpectedly closed").error).toMatchObject({ code: "Transfer.ConnectionLost", retryable: true });
    expect(interpretRsyncExit(30, null, "").error).toMatchObject({ code: "Transfer.Timeout", retryable: true });
    expect(interpretRsyncExit(23, null, "").error?.code).toBe("Transfer.Partial");
    expect(interpretRsyncExit(11, null, 'write failed on "x": No space left on device (28)').error?.code).toBe("Receiver.DiskFull");
    expect(interpretRsyncExit(11, null, "rsync: [sender] write error: Broken pipe (32)\nrsync error: error in file IO (code 11)").error?.code).toBe("Transfer.ConnectionLost");
    // One of several streams cut by the same full disk: its sender died before printing anything.
    expect(interpretRsyncExit(11, null, "").error?.code).toBe("Transfer.ConnectionLost");
    expect(interpretRsyncExit(11, null, 'rsync: read errors mapping "/x": Input/output error (5)').error?.code).toBe("Transfer.FileIO");
    expect(interpretRsyncExit(12, null, "Error Receiver.Unauthorized: the token is missing").error).toMatchObject({ code: "Receiver.Unauthorized", retryable: false });
    // A refusal keeps the fix the tunnel printed, or says what to do about a full target when it printed none.
    expect(interpretRsyncExit(12, null, "Error Receiver.Busy: busy\nFix: wait a minute\n").error).toMatchObject({ code: "Receiver.Busy", fix: "wait a minute" });
    expect(interpretRsyncExit(12, null, "Error Receiver.DiskFull: the target disk disk1 on the intermediate instance is full\n").error).toMatchObject({
      code: "Receiver.DiskFull",
      retryable: false,
      fix: expect.stringMatching(/^Free space .* larger disk/),
    });
    expect(interpretRsyncExit(null, "SIGKILL", "").error?.code).toBe("Transfer.Interrupted");
    expect(interpretRsyncExit(1, null, "syntax").error).toMatchObject({ code: "Transfer.RsyncFailed", retryable: false });
  });
});

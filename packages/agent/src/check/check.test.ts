import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { kernelsOf, parseGrubVersion } from "./boot-items";
import { normalizeFingerprint } from "./receiver-items";
import { formatCheckReport } from "./run-checks";
import { checkRoot, checkSelinux, checkWorkdirSpace, compareVersions, parseRsyncVersion } from "./system-items";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hoist-check-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("version parsing", () => {
  it("reads rsync and GRUB versions as their tools print them", () => {
    expect(parseRsyncVersion("rsync  version 3.2.7  protocol version 31\nCopyright")).toBe("3.2.7");
    expect(parseRsyncVersion("rsync  version v3.5.0  protocol version 32")).toBe("3.5.0");
    expect(parseRsyncVersion("rsync version 2.6.9 protocol version 29")).toBe("2.6.9");
    expect(parseGrubVersion("grub-install (GRUB) 2.06-13+deb12u2")).toBe("2.06");
    expect(parseGrubVersion("grub2-install (GRUB) 2.02~beta2")).toBe("2.02");
    expect(parseGrubVersion("grub-install (GNU GRUB 0.97)")).toBe("0.97");
  });
  it("compares dotted versions by number", () => {
    expect(compareVersions("1.99", "1.9")).toBeGreaterThan(0);
    expect(compareVersions("2.06", "1.9")).toBeGreaterThan(0);
    expect(compareVersions("0.97", "1.9")).toBeLessThan(0);
    expect(compareVersions("2.6.9", "3.0")).toBeLessThan(0);
    expect(compareVersions("3.0", "3.0.0")).toBe(0);
  });
  it("normalises fingerprints written with colons or in capitals", () => {
    expect(normalizeFingerprint("AB:cd:EF")).toBe("abcdef");
  });
});

describe("items", () => {
  it("fails a non-root user with the fix", () => {
    expect(checkRoot(1000)).toMatchObject({ status: "FAIL", fix: expect.stringContaining("root") });
    expect(checkRoot(0).status).toBe("OK");
  });
  it("fails when SELinux is enforcing on the host", async () => {
    expect(await checkSelinux("/", "enforcing")).toMatchObject({ status: "FAIL", fix: expect.stringContaining("setenforce 0") });
    expect((await checkSelinux("/", "permissive")).status).toBe("OK");
  });
  it("reports the free space of the workdir and fails on a missing folder", () => {
    expect(checkWorkdirSpace(dir).status).toBe("OK");
    expect(checkWorkdirSpace(join(dir, "missing")).status).toBe("FAIL");
  });
  it("lists the tree's kernels newest first", () => {
    mkdirSync(join(dir, "boot"));
    for (const v of ["5.10.0-9-amd64", "6.1.0-10-amd64", "6.1.0-9-amd64"]) writeFileSync(join(dir, "boot", `vmlinuz-${v}`), "");
    expect(kernelsOf(dir)).toEqual(["6.1.0-10-amd64", "6.1.0-9-amd64", "5.10.0-9-amd64"]);
  });
});

describe("formatCheckReport", () => {
  it("prints one line per item with the fix, then the verdict", () => {
    const text = formatCheckReport({
      ok: false,
      items: [
        { id: "rsync", status: "OK", detail: "rsync 3.2.7" },
        { id: "virtio", status: "FAIL", detail: "no virtio", fix: "rebuild the initramfs" },
        { id: "clock", status: "WARN", detail: "2 s", fix: "use NTP" },
      ],
    });
    expect(text).toBe("OK   rsync   rsync 3.2.7\nFAIL virtio  no virtio -- Fix: rebuild the initramfs\nWARN clock   2 s -- Fix: use NTP\nFAIL: 1 OK, 1 WARN, 1 FAIL\n");
  });
});

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_LINUX_EXCLUDES, openRunLog, readExcludes } from "./workdir";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hoist-workdir-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function excludeFile(name: string, text: string): void {
  mkdirSync(join(dir, "Excludes"), { recursive: true });
  writeFileSync(join(dir, "Excludes", name), text);
}

describe("readExcludes", () => {
  it("gives the Linux defaults when there are no files", () => {
    expect(readExcludes(dir, [])).toEqual({ system: [...DEFAULT_LINUX_EXCLUDES], dataDisks: {} });
  });

  it("adds the system file, each data disk's src_path and each disk's own file", () => {
    excludeFile("rsync_excludes_linux.txt", "# caches\n/var/mydirs/docs/words/\n\n  /var/mydirs/docs/excels/report1.sh  \r\n");
    excludeFile("rsync_excludes_linux_disk1.txt", "/mydirs/docs/words/\n# not this\n/mydirs/docs/excels/report1.sh\n");
    const ex = readExcludes(dir, [
      { data_disk_index: 1, data_disk_size: 100, src_path: "/mnt/disk1" },
      { data_disk_index: 2, src_path: "/data" },
    ]);
    expect(ex.system).toEqual([...DEFAULT_LINUX_EXCLUDES, "/mnt/disk1/*", "/data/*", "/var/mydirs/docs/words/", "/var/mydirs/docs/excels/report1.sh"]);
    expect(ex.dataDisks[1]).toEqual(["lost+found/*", "/mydirs/docs/words/", "/mydirs/docs/excels/report1.sh"]);
    expect(ex.dataDisks[2]).toEqual(["lost+found/*"]);
  });

  it("refuses .. in a pattern with the file and line", () => {
    excludeFile("rsync_excludes_linux_disk3.txt", "/ok/\n/../etc/shadow\n");
    expect(() => readExcludes(dir, [{ data_disk_index: 3, src_path: "/data" }])).toThrow(
      expect.objectContaining({ code: "Config.InvalidExclude", message: expect.stringContaining("rsync_excludes_linux_disk3.txt line 2") }),
    );
  });
});

describe("openRunLog", () => {
  it("writes JSON lines to Logs/hoist_<timestamp>.log with secrets redacted", () => {
    const now = new Date("2024-05-06T07:08:09.123Z");
    const { file, logger } = openRunLog(dir, { secrets: ["very-secret-key"], console: null, now });
    expect(file).toBe(join(dir, "Logs", "hoist_20240506_070809Z.log"));
    logger.info("connecting", { key: "very-secret-key here", disk: 1 });
    logger.addSecret("job-token-123456");
    logger.warn("token job-token-123456 refused");
    const lines = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.msg)).toEqual(["connecting", "token [redacted] refused"]);
    expect(readFileSync(file, "utf8")).not.toMatch(/very-secret-key|job-token-123456/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(openRunLog(dir, { console: null, now }).file).toBe(join(dir, "Logs", "hoist_20240506_070809Z_2.log"));
  });

  it("creates nothing until called", () => {
    expect(readdirSync(dir)).toEqual([]);
  });
});

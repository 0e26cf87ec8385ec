import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { codeOf } from "../../../../test/helpers/errors";
import { DEFAULT_LINUX_EXCLUDES } from "../workdir";
import { transferExcludes } from "./transfer-task";

const root = mkdtempSync(join(tmpdir(), "hoist-task-excludes-"));
const stateDir = mkdtempSync(join(tmpdir(), "hoist-task-state-"));
mkdirSync(join(root, "srv/cache"), { recursive: true });
mkdirSync(join(root, "data/tmp"), { recursive: true });
writeFileSync(join(root, "srv/big.iso"), "x");

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
});

const disk = (module: string, sourcePath: string, excludes: string[] = []) => ({ module, sourcePath, excludes, usedBytes: 0 });

describe("transfer task excludes", () => {
  it("gives the system disk hoist migrate's defaults, the data disks' folders and the task's paths", () => {
    const ex = transferExcludes({ disks: [disk("system", "/", ["/srv/cache", "/srv/big.iso", "*.tmp"]), disk("disk1", "/data/")] }, { sourceRoot: root, stateDir });
    // A folder stays, empty (like a skipped mount point); a file is left out whole; a pattern goes as it is.
    expect(ex.get("system")).toEqual([...DEFAULT_LINUX_EXCLUDES, "/data/*", "/srv/cache/*", "/srv/big.iso", "*.tmp"]);
  });

  it("makes a data disk's excludes relative to its folder and drops paths outside it", () => {
    const ex = transferExcludes({ disks: [disk("system", "/"), disk("disk2", "/data", ["/data/tmp", "/srv/cache"])] }, { sourceRoot: root, stateDir });
    expect(ex.get("disk2")).toEqual(["lost+found/*", "/tmp/*"]);
  });

  it("reads exclude files from the state folder like hoist migrate's working folder", () => {
    const dir = mkdtempSync(join(tmpdir(), "hoist-task-state-"));
    mkdirSync(join(dir, "Excludes"));
    writeFileSync(join(dir, "Excludes/rsync_excludes_linux.txt"), "# mine\n/var/cache/\n");
    writeFileSync(join(dir, "Excludes/rsync_excludes_linux_disk1.txt"), "/scratch/\n");
    try {
      const ex = transferExcludes({ disks: [disk("system", "/"), disk("disk1", "/data")] }, { sourceRoot: root, stateDir: dir });
      expect(ex.get("system")).toContain("/var/cache/");
      expect(ex.get("disk1")).toEqual(["lost+found/*", "/scratch/"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a disk that is not a target disk, a relative source path and '..'", () => {
    expect(codeOf(() => transferExcludes({ disks: [disk("disk17", "/data")] }, { sourceRoot: root, stateDir }))).toBe("AgentTask.InvalidDisk");
    expect(codeOf(() => transferExcludes({ disks: [disk("disk1", "data")] }, { sourceRoot: root, stateDir }))).toBe("AgentTask.InvalidDisk");
    expect(codeOf(() => transferExcludes({ disks: [disk("disk1", "/data/../etc")] }, { sourceRoot: root, stateDir }))).toBe("AgentTask.InvalidDisk");
    expect(codeOf(() => transferExcludes({ disks: [disk("system", "/", ["/srv/../etc"])] }, { sourceRoot: root, stateDir }))).toBe("Config.InvalidExclude");
  });
});

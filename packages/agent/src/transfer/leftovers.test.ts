import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeWorkDir, removeDeadWorkDirs } from "./leftovers";

const parent = mkdtempSync("/var/tmp/hoist-leftovers-test-");
afterAll(() => rmSync(parent, { recursive: true, force: true }));

/** The pid of a process that has run and exited. */
function deadPid(): number {
  const r = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" });
  return Number(r.stdout.trim());
}

describe("work folders of copies", () => {
  it("are named for their process, and those of dead processes are removed while live ones and others stay", () => {
    const mine = makeWorkDir(parent);
    expect(mine).toMatch(new RegExp(`/hoist-transfer-${process.pid}-[A-Za-z0-9]{6}$`));
    writeFileSync(join(mine, "source.snapshot"), "etc/passwd\n");
    const dead = join(parent, `hoist-transfer-${deadPid()}-abc123`);
    mkdirSync(dead);
    writeFileSync(join(dead, "source.snapshot"), "etc/shadow\n");
    // The parent of this test process is alive: its folder is not ours to remove.
    const live = join(parent, `hoist-transfer-${process.ppid}-xyz789`);
    mkdirSync(live);
    // Not a work folder of this naming: left alone whatever its number.
    const other = join(parent, "hoist-transfer-Zx81Qa");
    mkdirSync(other);
    const file = join(parent, `hoist-transfer-${deadPid()}-fil3ab`);
    writeFileSync(file, "");

    expect(removeDeadWorkDirs(parent)).toEqual([dead]);
    expect(existsSync(dead)).toBe(false);
    for (const kept of [mine, live, other, file]) expect(existsSync(kept), kept).toBe(true);
  });
});

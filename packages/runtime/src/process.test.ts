import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { maskUrlPassword } from "./logger";
import { claimPidFile, forbidCoreDumps, pidFileHolder } from "./process";

const dir = mkdtempSync(join(tmpdir(), "hoist-pidfile-"));
const file = join(dir, "x.pid");
const children: ChildProcess[] = [];

afterEach(() => rmSync(file, { force: true }));
afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** A process that runs until the test ends, and the start time /proc gives it. */
function sleeper(): { pid: number; start: string } {
  const child = spawn("sleep", ["30"], { stdio: "ignore" });
  children.push(child);
  const pid = child.pid as number;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return { pid, start: stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] as string };
}

/** The pid of a process that has ended and been collected. */
async function deadPid(): Promise<number> {
  const child = spawn("true", { stdio: "ignore" });
  await new Promise((r) => child.on("exit", r));
  return child.pid as number;
}

describe("pid files", () => {
  it("one holder at a time: a second claim names the first, a release frees it", () => {
    const first = claimPidFile(file);
    expect(first.held).toBe(true);
    expect(readFileSync(file, "utf8")).toMatch(new RegExp(`^${process.pid} \\d+\\n$`));
    expect(pidFileHolder(file)).toBe(process.pid);
    expect(claimPidFile(file)).toEqual({ held: false, holder: process.pid });
    if (first.held) first.release();
    expect(existsSync(file)).toBe(false);
    expect(pidFileHolder(file)).toBeNull();
    const again = claimPidFile(file);
    expect(again.held).toBe(true);
    if (again.held) again.release();
  });

  it("another live process holds it", () => {
    const other = sleeper();
    writeFileSync(file, `${other.pid} ${other.start}\n`);
    expect(pidFileHolder(file)).toBe(other.pid);
    expect(claimPidFile(file)).toEqual({ held: false, holder: other.pid });
    // An old file with the pid alone still counts.
    writeFileSync(file, `${other.pid}\n`);
    expect(claimPidFile(file)).toEqual({ held: false, holder: other.pid });
    expect(readFileSync(file, "utf8")).toBe(`${other.pid}\n`);
  });

  it("takes over a file left by a process that died, or whose number now names another process, or that holds garbage", async () => {
    const other = sleeper();
    for (const left of [`${await deadPid()}\n`, `${other.pid} 1\n`, "", "garbage\n", "-5\n"]) {
      writeFileSync(file, left);
      expect(pidFileHolder(file), JSON.stringify(left)).toBeNull();
      const claim = claimPidFile(file);
      expect(claim.held, JSON.stringify(left)).toBe(true);
      expect(readFileSync(file, "utf8").startsWith(`${process.pid} `)).toBe(true);
      if (claim.held) claim.release();
    }
  });

  it("a zombie (ended, not yet collected by its parent) does not hold it", async () => {
    // perl forks a child that ends at once, and never collects it.
    const parent = spawn("perl", ["-e", '$| = 1; my $pid = fork(); exit 0 if $pid == 0; print "$pid\\n"; sleep 30;'], { stdio: ["ignore", "pipe", "ignore"] });
    children.push(parent);
    const zombie = Number(await new Promise<string>((resolve) => parent.stdout?.once("data", (d: Buffer) => resolve(d.toString()))));
    for (let i = 0; i < 50 && !readFileSync(`/proc/${zombie}/stat`, "utf8").includes(") Z "); i++) await new Promise((r) => setTimeout(r, 20));
    expect(readFileSync(`/proc/${zombie}/stat`, "utf8")).toContain(") Z ");
    writeFileSync(file, `${zombie}\n`);
    expect(pidFileHolder(file)).toBeNull();
  });

  it("release leaves a file that is no longer this process's", () => {
    const claim = claimPidFile(file);
    const other = sleeper();
    writeFileSync(file, `${other.pid} ${other.start}\n`);
    if (claim.held) claim.release();
    expect(readFileSync(file, "utf8")).toBe(`${other.pid} ${other.start}\n`);
  });
});

describe("maskUrlPassword", () => {
  it("masks the password of a URL and leaves everything else", () => {
    expect(maskUrlPassword("postgres://hoist:s3cret@db.example.com:5432/hoist")).toBe("postgres://hoist:***@db.example.com:5432/hoist");
    expect(maskUrlPassword("https://:s3cret@example.com")).toBe("https://:***@example.com");
    expect(maskUrlPassword("http://u:p@ss@example.com/x")).toBe("http://u:***@example.com/x");
    expect(maskUrlPassword("http://user@example.com:8080/a:b@c")).toBe("http://user@example.com:8080/a:b@c");
    expect(maskUrlPassword("http://example.com:8080/path?a=b:c@d")).toBe("http://example.com:8080/path?a=b:c@d");
    expect(maskUrlPassword("not a url")).toBe("not a url");
  });
});

describe("forbidCoreDumps", () => {
  it("has prlimit set this process's core file limit to 0, soft and hard", () => {
    // Lowering a limit needs no privilege, so this runs anywhere; children inherit it (the kernel's rule).
    expect(forbidCoreDumps()).toBe(true);
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max core file size"));
    expect(line?.trim().split(/\s+/).slice(4, 6)).toEqual(["0", "0"]);
  });
});

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createProgressReporter, formatBytes, formatDuration } from "./progress";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hoist-progress-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = new Writable({
    write(c, _e, cb) {
      chunks.push(String(c));
      cb();
    },
  }) as Writable & { isTTY?: boolean };
  stream.isTTY = isTTY;
  return { stream, text: () => chunks.join("") };
}

describe("progress reporter", () => {
  it("keeps the progress file at stage / percent, never going back", () => {
    const file = join(dir, "progress");
    const out = sink(false);
    let clock = 0;
    const p = createProgressReporter({ progressFile: file, stream: out.stream, now: () => clock });
    p.stage("PrepareForRsync");
    expect(readFileSync(file, "utf8")).toBe("PrepareForRsync\n0\n");
    p.stage("DoRsync");
    expect(readFileSync(file, "utf8")).toBe("DoRsync\n2\n");
    clock = 1000;
    p.bytes(50, 100);
    expect(readFileSync(file, "utf8")).toBe("DoRsync\n46\n");
    clock = 2000;
    p.bytes(40, 200); // a disk added to the total must not make the number fall
    expect(p.percent).toBe(46);
    p.stage("CreateImage");
    expect(readFileSync(file, "utf8")).toBe("CreateImage\n90\n");
    p.finish(true);
    expect(readFileSync(file, "utf8")).toBe("Finished\n100\n");
    expect(out.text().trim().split("\n").pop()).toBe("Goto Hoist Finished!");
  });

  it("leaves the last stage in the file and says Not Finished on failure", () => {
    const file = join(dir, "progress");
    const out = sink(false);
    const p = createProgressReporter({ progressFile: file, stream: out.stream, now: () => 0 });
    p.stage("DoRsync");
    p.finish(false);
    expect(readFileSync(file, "utf8")).toBe("DoRsync\n2\n");
    expect(out.text().endsWith("Goto Hoist Not Finished!\n")).toBe(true);
  });

  it("prints plain lines at most every 10 s when not on a terminal", () => {
    const out = sink(false);
    let clock = 0;
    const p = createProgressReporter({ stream: out.stream, now: () => clock });
    p.stage("DoRsync");
    for (let i = 1; i <= 25; i++) {
      clock = i * 1000;
      p.bytes(i * 1024 * 1024, 100 * 1024 * 1024);
    }
    const lines = out.text().trim().split("\n");
    // the stage line, then 10 s and 20 s
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(/ 19% 20\.0 MiB\/100\.0 MiB 1\.0 MiB\/s ETA 01:20 DoRsync$/);
    expect(out.text()).not.toContain("\r");
  });

  it("prints more often with --verbose", () => {
    const out = sink(false);
    let clock = 0;
    const p = createProgressReporter({ stream: out.stream, now: () => clock, verbose: true });
    p.stage("DoRsync");
    for (let i = 1; i <= 20; i++) {
      clock = i * 1000;
      p.bytes(i, 100);
    }
    expect(out.text().trim().split("\n")).toHaveLength(11);
  });

  it("redraws one bar line on a terminal", () => {
    const out = sink(true);
    let clock = 0;
    const p = createProgressReporter({ stream: out.stream, now: () => clock });
    p.stage("DoRsync");
    clock = 1000;
    p.bytes(512, 1024);
    p.finish(true);
    const text = out.text();
    expect(text).toContain("\r[");
    expect(text).toContain("DoRsync\x1b[K");
    expect(text.split("\n").filter(Boolean)).toHaveLength(2);
    expect(text.endsWith("\nGoto Hoist Finished!\n")).toBe(true);
  });
});

describe("formatting", () => {
  it("formats bytes and durations", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(5 * 1024 ** 3)).toBe("5.0 GiB");
    expect(formatDuration(65)).toBe("01:05");
    expect(formatDuration(3725)).toBe("1:02:05");
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe("--:--");
  });
});

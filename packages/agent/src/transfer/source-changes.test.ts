import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, truncateSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ChangeDetector, keyToPath, SnapshotWriter, type SourceChanges } from "./source-changes";
import { walkSource } from "./walk";

let dir: string;
let tree: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hoist-source-changes-"));
  tree = join(dir, "tree");
  for (const d of ["etc", "var/log", "srv/a", "srv/a.b", "srv/a/deep"]) mkdirSync(join(tree, d), { recursive: true });
  writeFileSync(join(tree, "etc/hostname"), "web-1\n");
  writeFileSync(join(tree, "var/log/app.log"), "x".repeat(500));
  writeFileSync(join(tree, "srv/a/one"), "1");
  writeFileSync(join(tree, "srv/a/deep/two"), "22");
  writeFileSync(join(tree, "srv/a.b/three"), "333");
  symlinkSync("hostname", join(tree, "etc/name"));
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function snapshot(options: { excludes?: string[] } = {}): Promise<string> {
  const file = join(dir, `snap-${Math.random()}`);
  const w = new SnapshotWriter(file);
  await walkSource(tree, { ...options, onEntry: (k, st) => w.record(k, st) });
  w.close();
  return file;
}

async function changesSince(file: string, options: { excludes?: string[] } = {}): Promise<SourceChanges> {
  const d = new ChangeDetector(file);
  await walkSource(tree, { ...options, onEntry: (k, st) => d.visit(k, st) });
  return d.finish();
}

describe("what changed on the source during a copy", () => {
  it("reports nothing for a tree that held still", async () => {
    expect(await changesSince(await snapshot())).toEqual({ appeared: 0, vanished: 0, changed: 0, paths: [] });
  });

  it("names created, grown, truncated, renamed and deleted paths, a whole folder once", async () => {
    const before = await snapshot();
    mkdirSync(join(tree, "srv/new"));
    writeFileSync(join(tree, "srv/new/f"), "f");
    appendFileSync(join(tree, "var/log/app.log"), "more");
    truncateSync(join(tree, "srv/a.b/three"), 1);
    renameSync(join(tree, "srv/a"), join(tree, "srv/a-moved"));
    unlinkSync(join(tree, "etc/hostname"));
    const c = await changesSince(before);
    // srv/new and its file; srv/a-moved with one, deep, deep/two.
    expect(c.appeared).toBe(2 + 4);
    expect(c.vanished).toBe(4 + 1);
    expect(c.changed).toBe(2);
    expect(c.paths).toEqual([
      { change: "appeared", path: "/srv/a-moved", dir: true },
      { change: "appeared", path: "/srv/new", dir: true },
      { change: "vanished", path: "/etc/hostname" },
      { change: "vanished", path: "/srv/a", dir: true },
      { change: "changed", path: "/srv/a.b/three", bytesBefore: 3, bytesAfter: 1 },
      { change: "changed", path: "/var/log/app.log", bytesBefore: 500, bytesAfter: 504 },
    ]);
  });

  it("sees a rewrite of the same size by its mtime, and a file that became a folder", async () => {
    const before = await snapshot();
    utimesSync(join(tree, "srv/a/one"), new Date(2001, 1, 1), new Date(2001, 1, 1));
    rmSync(join(tree, "etc/name"));
    mkdirSync(join(tree, "etc/name"));
    const c = await changesSince(before);
    expect(c).toMatchObject({ appeared: 0, vanished: 0, changed: 2 });
    expect(c.paths.map((p) => p.path)).toEqual(["/etc/name", "/srv/a/one"]);
  });

  it("leaves out what the copy leaves out", async () => {
    const before = await snapshot({ excludes: ["/var/log/*"] });
    appendFileSync(join(tree, "var/log/app.log"), "more");
    writeFileSync(join(tree, "var/log/other.log"), "new");
    expect(await changesSince(before, { excludes: ["/var/log/*"] })).toMatchObject({ appeared: 0, changed: 0 });
  });

  it("keeps a bounded sample, shared among the kinds, and counts everything", async () => {
    for (let i = 0; i < 150; i++) writeFileSync(join(tree, `srv/gone-${i}`), "g");
    const before = await snapshot();
    for (let i = 0; i < 150; i++) {
      writeFileSync(join(tree, `srv/new-${String(i).padStart(3, "0")}`), "n");
      unlinkSync(join(tree, `srv/gone-${i}`));
    }
    appendFileSync(join(tree, "etc/hostname"), "x");
    const c = await changesSince(before);
    expect(c).toMatchObject({ appeared: 150, vanished: 150, changed: 1 });
    expect(c.paths).toHaveLength(100);
    const kinds = c.paths.map((p) => p.change);
    expect(kinds.filter((k) => k === "changed")).toHaveLength(1);
    expect(kinds.filter((k) => k === "appeared")).toHaveLength(50);
    expect(kinds.filter((k) => k === "vanished")).toHaveLength(49);
    expect(c.paths[0]?.path).toBe("/srv/new-000");
  });

  it("reads names that are not UTF-8 and shows them readably", () => {
    expect(keyToPath(Buffer.concat([Buffer.from("srv"), Buffer.from([0]), Buffer.from([0x66, 0xff, 0x6f])]))).toBe("/srv/f\ufffdo");
    expect(keyToPath(Buffer.from("x".repeat(3000))).length).toBe(1025);
  });
});

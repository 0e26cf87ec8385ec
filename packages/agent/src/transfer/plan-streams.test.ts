import { execFileSync, spawnSync } from "node:child_process";
import { linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { excludeRules, folderPassRules, planStreams, streamFilterRules } from "./plan-streams";
import { walkSource } from "./walk";

const base = mkdtempSync(join(tmpdir(), "hoist-plan-test-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function file(path: string, bytes: number): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, Buffer.alloc(bytes, 7));
}

function makeTree(root: string): void {
  for (const top of ["usr", "var", "home", "opt"]) {
    for (let i = 0; i < 6; i++) file(join(root, top, `d${i}`, "data.bin"), (i + 1) * 200_000);
  }
  file(join(root, "var", "big.img"), 12 * 2 ** 20);
  // A hard link across top-level folders: both ends must land in one stream.
  linkSync(join(root, "usr", "d5", "data.bin"), join(root, "home", "d0", "link-to-usr"));
  // Names that must never become units of their own.
  file(join(root, "opt", "we*ird", "x"), 3_000_000);
  file(join(root, "opt", "new\nline", "y"), 3_000_000);
  file(join(root, "rootfile"), 10);
  mkdirSync(join(root, "dev", "pts"), { recursive: true });
  writeFileSync(join(root, "dev", "null-ish"), "x");
}

function listAll(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const rel = prefix ? `${prefix}/${name}` : name;
    out.push(rel);
    if (lstatSync(join(dir, name)).isDirectory()) out.push(...listAll(join(dir, name), rel));
  }
  return out.sort();
}

describe("planStreams", () => {
  const src = join(base, "src");
  makeTree(src);
  const excludes = ["/dev/*"];

  it("splits into several streams, keeps hard links together and leaves unsafe names to stream 0", async () => {
    const walk = await walkSource(src, { excludes });
    const plan = planStreams(walk, { streams: 4 });
    expect(plan.length).toBeGreaterThan(1);
    const owner = new Map<string, number>();
    for (const p of plan) for (const u of p.units) owner.set(u.path, p.index);
    const usrUnit = [...owner.keys()].find((k) => k === "usr" || k === "usr/d5" || k === "usr/d5/data.bin");
    const homeUnit = [...owner.keys()].find((k) => k === "home" || k === "home/d0");
    const usrStream = usrUnit ? owner.get(usrUnit) : 0;
    const homeStream = homeUnit ? owner.get(homeUnit) : 0;
    expect(usrStream).toBe(homeStream);
    for (const k of owner.keys()) expect(k).not.toMatch(/[*\n]/);
    // Every unit belongs to exactly one stream.
    const all = plan.flatMap((p) => p.units.map((u) => u.path));
    expect(new Set(all).size).toBe(all.length);
  });

  it("one stream has no units and needs no rules beyond the excludes", async () => {
    const plan = planStreams(await walkSource(src, { excludes }), { streams: 1 });
    expect(plan).toHaveLength(1);
    expect(streamFilterRules(plan, 0, excludeRules(excludes))).toEqual(["- /dev/*"]);
  });

  it("the streams' rules together copy the whole tree exactly once, hard links included", async () => {
    const dst = join(base, "dst");
    mkdirSync(dst);
    writeFileSync(join(dst, "stale-file"), "must be deleted");
    // Old folder times on the source, so a folder the streams touched shows it.
    for (const d of listAll(src).filter((p) => lstatSync(join(src, p)).isDirectory())) utimesSync(join(src, d), 1_000_000, 1_000_000);
    utimesSync(src, 1_000_000, 1_000_000);
    const plan = planStreams(await walkSource(src, { excludes }), { streams: 4 });
    const common = excludeRules(excludes);
    for (const p of plan) {
      const rules = join(base, `rules-${p.index}`);
      writeFileSync(rules, `${streamFilterRules(plan, p.index, common).join("\0")}\0`);
      const r = spawnSync("rsync", ["-aH", "--delete", "--from0", `--filter=merge ${rules}`, `${src}/`, `${dst}/`]);
      expect(r.status, r.stderr.toString()).toBe(0);
    }
    const folders = join(base, "rules-folders");
    writeFileSync(folders, `${folderPassRules(plan, common).join("\0")}\0`);
    execFileSync("rsync", ["-aH", "--from0", `--filter=merge ${folders}`, `${src}/`, `${dst}/`]);
    const expected = listAll(src).filter((p) => p !== "dev/null-ish" && p !== "dev/pts");
    expect(listAll(dst)).toEqual(expected);
    // Streams writing into shared folders move their mtimes; the folder pass puts them back.
    const staleFolders = expected.filter((p) => lstatSync(join(src, p)).isDirectory() && lstatSync(join(src, p)).mtimeMs !== lstatSync(join(dst, p)).mtimeMs);
    expect(staleFolders).toEqual([]);
    expect(lstatSync(dst).mtimeMs).toBe(lstatSync(src).mtimeMs);
    const a = lstatSync(join(dst, "usr", "d5", "data.bin"));
    const b = lstatSync(join(dst, "home", "d0", "link-to-usr"));
    expect(a.ino).toBe(b.ino);
    expect(a.nlink).toBe(2);
  });
});

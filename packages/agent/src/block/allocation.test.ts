import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { chunksOf, complementRanges, mergeRanges, parseDumpe2fs, parseXfsFreesp, readAllocation } from "./allocation";

const MiB = 2 ** 20;
const work = mkdtempSync(join(tmpdir(), "hoist-allocation-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function image(name: string, bytes: number): string {
  const path = join(work, name);
  execFileSync("truncate", ["-s", String(bytes), path]);
  return path;
}

describe("allocation ranges", () => {
  it("merges, clips and complements ranges", () => {
    expect(mergeRanges([[10, 20], [0, 5], [15, 30], [40, 50]], 45)).toEqual([[0, 5], [10, 30], [40, 45]]);
    expect(complementRanges([[10, 20], [0, 5]], 30)).toEqual([[5, 10], [20, 30]]);
    expect(complementRanges([], 8)).toEqual([[0, 8]]);
  });

  it("reads ext4 block bitmaps: used blocks match the superblock's free count, uninitialised inode tables left out", () => {
    const path = image("ext4.img", 256 * MiB);
    execFileSync("mkfs.ext4", ["-F", "-q", "-b", "4096", path]);
    const text = execFileSync("dumpe2fs", [path], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const count = Number(/^Block count:\s+(\d+)/m.exec(text)?.[1]);
    const free = Number(/^Free blocks:\s+(\d+)/m.exec(text)?.[1]);
    const used = parseDumpe2fs(text, 256 * MiB).reduce((n, [a, b]) => n + b - a, 0);
    // Uninitialised inode tables count as free here, so at most the bitmap's used blocks.
    const uninit = [...text.matchAll(/^Group \d+: .*INODE_UNINIT.*\n(?:.*\n)*?\s+Inode table at (\d+)-(\d+)/gm)].reduce((n, m) => n + (Number(m[2]) - Number(m[1]) + 1) * 4096, 0);
    expect(used).toBe((count - free) * 4096 - uninit);
    expect(used).toBeLessThan(64 * MiB);
  });

  it("parses dumpe2fs free lists with single blocks and empty lists", () => {
    const text = ["Block count:              100", "Block size:               1024", "Group 0: (Blocks 1-50)", "  Free blocks: 10-19, 25", "Group 1: (Blocks 51-99)", "  Free blocks: ", ""].join("\n");
    expect(parseDumpe2fs(text, 200 * 1024)).toEqual([[0, 10 * 1024], [20 * 1024, 25 * 1024], [26 * 1024, 100 * 1024]]);
  });

  it("reads xfs free space: used bytes equal the size minus xfs_db's free block total", async () => {
    const path = image("xfs.img", 300 * MiB);
    execFileSync("mkfs.xfs", ["-f", "-q", path]);
    const map = await readAllocation(path);
    expect(map.method).toBe("xfs-freesp");
    const summary = execFileSync("xfs_db", ["-r", "-c", "freesp -s", path], { encoding: "utf8" });
    const totalFree = Number(/total free blocks (\d+)/.exec(summary)?.[1]);
    expect(map.usedBytes).toBe(300 * MiB - totalFree * 4096);
    // The internal log (64 MiB) and the AG headers.
    expect(map.usedBytes).toBeLessThan(80 * MiB);
  });

  it("parses xfs_db output into absolute byte ranges per allocation group", () => {
    const text = ["blocksize = 4096", "agblocks = 100", "agcount = 2", "dblocks = 200", "    agno    agbno      len", "       0       10       90", "       1        5       95", "   from      to extents  blocks    pct", "      1       1      16      16   0.03"].join("\n");
    expect(parseXfsFreesp(text, 200 * 4096)).toEqual([[0, 10 * 4096], [100 * 4096, 105 * 4096]]);
  });

  it("treats anything else as used all through", async () => {
    const path = image("plain.img", 8 * MiB);
    const map = await readAllocation(path);
    expect(map).toMatchObject({ fs: null, method: "whole", usedBytes: 8 * MiB, used: [[0, 8 * MiB]] });
  });

  it("maps used ranges to chunks with the reads inside each", () => {
    const map = { fs: "ext4", method: "ext-bitmap" as const, sourceBytes: 10 * MiB, used: [[0, 4096], [3 * MiB, 5 * MiB], [9 * MiB + 1024, 9 * MiB + 2048]] as [number, number][], usedBytes: 0 };
    const spans = chunksOf(map, 4 * MiB, 0);
    expect(spans.map((s) => [s.index, s.length, s.reads, s.usedBytes])).toEqual([
      [0, 4 * MiB, [[0, 4096], [3 * MiB, 4 * MiB]], 4096 + MiB],
      [1, 4 * MiB, [[0, MiB]], MiB],
      [2, 2 * MiB, [[MiB + 1024, MiB + 2048]], 1024],
    ]);
  });
});

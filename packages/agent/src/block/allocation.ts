// Which byte ranges of a source partition hold data, from the filesystem's own
// allocation information: ext2/3/4 block bitmaps (through dumpe2fs), XFS free
// space b-trees (through xfs_db -r), and for anything else the whole
// partition (the chunk engine then skips all-zero chunks).
import { stat } from "node:fs/promises";
import { HoistError } from "@hoist/protocol";
import { run } from "@hoist/runtime";

/** Half-open byte range [start, end). */
export type ByteRange = [number, number];

export interface AllocationMap {
  fs: string | null;
  method: "ext-bitmap" | "xfs-freesp" | "whole";
  /** Size of the source partition (device or file). */
  sourceBytes: number;
  /** Sorted, merged, inside [0, sourceBytes). */
  used: ByteRange[];
  usedBytes: number;
}

/** Sorts and merges ranges, clipping them to [0, limit). */
export function mergeRanges(ranges: readonly ByteRange[], limit: number): ByteRange[] {
  const sorted = ranges
    .map(([a, b]): ByteRange => [Math.max(0, a), Math.min(limit, b)])
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  const out: ByteRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

/** [0, total) minus `free` (which need not be sorted). */
export function complementRanges(free: readonly ByteRange[], total: number): ByteRange[] {
  const merged = mergeRanges(free, total);
  const out: ByteRange[] = [];
  let at = 0;
  for (const [a, b] of merged) {
    if (a > at) out.push([at, a]);
    at = b;
  }
  if (at < total) out.push([at, total]);
  return out;
}

const sumRanges = (r: readonly ByteRange[]): number => r.reduce((n, [a, b]) => n + b - a, 0);

function field(text: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(text);
  if (!m?.[1]) throw new HoistError("Block.AllocationUnreadable", `dumpe2fs printed no "${name}"`);
  return Number(m[1]);
}

/**
 * Used byte ranges of an ext2/3/4 filesystem from `dumpe2fs` (full output): every block that is not
 * listed free. Inode tables of groups marked INODE_UNINIT hold no inode the kernel will read, so they
 * count as free too (the target reads them as zeros, which is what the kernel expects of them).
 */
export function parseDumpe2fs(text: string, sourceBytes: number): ByteRange[] {
  const blockSize = field(text, "Block size");
  const blockCount = field(text, "Block count");
  const free: ByteRange[] = [];
  let uninitInodes = false;
  for (const line of text.split("\n")) {
    const group = /^Group \d+: \(Blocks \d+-\d+\)(.*)$/.exec(line);
    if (group) {
      uninitInodes = /\bINODE_UNINIT\b/.test(group[1] ?? "");
      continue;
    }
    const table = /^\s+Inode table at (\d+)-(\d+)/.exec(line);
    if (table && uninitInodes) {
      free.push([Number(table[1]) * blockSize, (Number(table[2]) + 1) * blockSize]);
      continue;
    }
    const m = /^\s+Free blocks: (.*)$/.exec(line);
    if (!m) continue;
    for (const part of (m[1] ?? "").split(",")) {
      const r = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
      if (!r) continue;
      const a = Number(r[1]);
      const b = r[2] === undefined ? a : Number(r[2]);
      free.push([a * blockSize, (b + 1) * blockSize]);
    }
  }
  // Whatever lies past the filesystem's end is not part of it.
  const fsBytes = Math.min(sourceBytes, blockCount * blockSize);
  return complementRanges(free, fsBytes);
}

/** Used byte ranges of an XFS data device from xfs_db's `p blocksize/agblocks/dblocks` and `freesp -d`. */
export function parseXfsFreesp(text: string, sourceBytes: number): ByteRange[] {
  const num = (name: string): number => {
    const m = new RegExp(`^${name} = (\\d+)`, "m").exec(text);
    if (!m?.[1]) throw new HoistError("Block.AllocationUnreadable", `xfs_db printed no ${name}`);
    return Number(m[1]);
  };
  const blockSize = num("blocksize");
  const agBlocks = num("agblocks");
  const dBlocks = num("dblocks");
  const free: ByteRange[] = [];
  let inList = false;
  for (const line of text.split("\n")) {
    if (/^\s*agno\s+agbno\s+len\s*$/.test(line)) {
      inList = true;
      continue;
    }
    if (!inList) continue;
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    if (!m) {
      if (/^\s*from\s+to\s+extents/.test(line)) inList = false;
      continue;
    }
    const start = (Number(m[1]) * agBlocks + Number(m[2])) * blockSize;
    free.push([start, start + Number(m[3]) * blockSize]);
  }
  if (!text.includes("agbno")) throw new HoistError("Block.AllocationUnreadable", "xfs_db printed no free space list");
  return complementRanges(free, Math.min(sourceBytes, dBlocks * blockSize));
}

/** Size in bytes of a block device or a disk-image file. */
export async function sourceSize(path: string): Promise<number> {
  const st = await stat(path).catch((e: unknown) => {
    throw new HoistError("Block.NoSource", `the source partition ${path} cannot be read: ${e instanceof Error ? e.message : String(e)}`, {
      fix: "Give the path of a block device, a logical volume or a disk-image file.",
    });
  });
  if (st.isFile()) return st.size;
  if (!st.isBlockDevice()) throw new HoistError("Block.NoSource", `${path} is neither a block device nor a file`, { fix: "Give the path of a block device, a logical volume or a disk-image file." });
  // fstat of a block device says 0; the size is what the end of the device is.
  const r = await run("blockdev", ["--getsize64", path], { code: "Block.NoSource" });
  return Number(r.stdout.trim());
}

/** The filesystem type blkid finds on the source, or null. */
export async function detectFs(path: string): Promise<string | null> {
  const r = await run("blkid", ["-p", "-o", "value", "-s", "TYPE", path], { okExitCodes: [0, 2] });
  return r.stdout.trim() || null;
}

/** Filesystem UUID of the source, or null. */
export async function detectFsUuid(path: string): Promise<string | null> {
  const r = await run("blkid", ["-p", "-o", "value", "-s", "UUID", path], { okExitCodes: [0, 2] });
  return r.stdout.trim() || null;
}

export async function readAllocation(path: string, fs?: string | null): Promise<AllocationMap> {
  const sourceBytes = await sourceSize(path);
  const kind = fs === undefined ? await detectFs(path) : fs;
  let used: ByteRange[];
  let method: AllocationMap["method"];
  if (kind === "ext4" || kind === "ext3" || kind === "ext2") {
    const r = await run("dumpe2fs", [path], { code: "Block.AllocationUnreadable" });
    used = parseDumpe2fs(r.stdout, sourceBytes);
    method = "ext-bitmap";
  } else if (kind === "xfs") {
    const r = await run("xfs_db", ["-r", "-c", "sb 0", "-c", "p blocksize", "-c", "p agblocks", "-c", "p dblocks", "-c", "freesp -d", path], { code: "Block.AllocationUnreadable" });
    used = parseXfsFreesp(r.stdout, sourceBytes);
    method = "xfs-freesp";
  } else {
    used = [[0, sourceBytes]];
    method = "whole";
  }
  return { fs: kind, method, sourceBytes, used, usedBytes: sumRanges(used) };
}

export interface ChunkSpan {
  index: number;
  offset: number;
  length: number;
  /** Used ranges inside the chunk, relative to its start, with gaps below `mergeGap` closed. */
  reads: ByteRange[];
  usedBytes: number;
}

/** The chunks that hold any used byte, with the ranges to read inside each. */
export function chunksOf(map: AllocationMap, chunkBytes: number, mergeGap = 256 * 1024): ChunkSpan[] {
  const out: ChunkSpan[] = [];
  let cur: ChunkSpan | undefined;
  for (const [a, b] of map.used) {
    let at = a;
    while (at < b) {
      const index = Math.floor(at / chunkBytes);
      const offset = index * chunkBytes;
      const end = Math.min(b, offset + chunkBytes);
      if (!cur || cur.index !== index) {
        cur = { index, offset, length: Math.min(chunkBytes, map.sourceBytes - offset), reads: [], usedBytes: 0 };
        out.push(cur);
      }
      const rel: ByteRange = [at - offset, end - offset];
      const last = cur.reads[cur.reads.length - 1];
      if (last && rel[0] - last[1] < mergeGap) last[1] = rel[1];
      else cur.reads.push(rel);
      cur.usedBytes += end - at;
      at = end;
    }
  }
  return out;
}

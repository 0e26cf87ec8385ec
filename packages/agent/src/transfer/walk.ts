// One walk of the source tree, made before any rsync starts: it gives the
// total for progress and the shape that parallel streams are planned from.
// Paths are handled as bytes, because a source may hold names that are not
// UTF-8; only names that are safe to write into rsync filter rules get a
// string form (others can never become a unit of their own).
import { lstatSync, readdirSync, type Stats } from "node:fs";

export interface WalkDir {
  /** Path relative to the source root, "/"-separated, no leading slash; "" for the root. Null when some component is unsafe. */
  path: string | null;
  /** Bytes of regular files below (apparent size), for planning and progress. */
  bytes: number;
  /** Entries below (files, links, dirs), which cost time even when empty. */
  entries: number;
  dirs: WalkDir[];
  /** Regular files in this folder big enough to be units on their own. */
  bigFiles: { path: string; bytes: number }[];
}

export interface HardLink {
  /** The folder holding the link. */
  dir: WalkDir;
  /** The file's own path when it is a big file (possibly a unit), else null. */
  bigFile: string | null;
}

export interface SourceWalk {
  root: WalkDir;
  totalBytes: number;
  totalEntries: number;
  /** Files with more than one link, grouped by inode. */
  hardLinks: HardLink[][];
}

export interface WalkOptions {
  /** rsync exclude patterns; the simple anchored ones (and `name/*`) are also not walked. */
  excludes?: readonly string[];
  /** Paths (relative to the source) whose contents are other filesystems to leave alone. */
  skipPaths?: readonly string[];
  /** Regular files at least this big may be units on their own. */
  bigFileBytes?: number;
  /**
   * Told about every entry walked, in one fixed order: each folder's names
   * sorted bytewise, depth first. `key` is the path relative to the source with
   * NUL between its components, so keys compare bytewise in that same order.
   */
  onEntry?: (key: Buffer, st: Stats) => void;
}

/** Characters that rsync filter rules treat as wildcards or escapes, plus line breaks. */
const UNSAFE_NAME = /[*?[\]\\\n\r]/;

export function safeName(raw: Buffer): string | null {
  let name: string;
  try {
    name = new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    return null;
  }
  return UNSAFE_NAME.test(name) ? null : name;
}

interface Pruner {
  /** Do not walk into this folder's contents. */
  contents(path: string, name: string): boolean;
  /** Do not count this entry at all. */
  whole(path: string): boolean;
}

function compilePruner(excludes: readonly string[], skipPaths: readonly string[]): Pruner {
  const contents = new Set<string>();
  const whole = new Set<string>();
  const anyNamed = new Set<string>();
  for (const raw of excludes) {
    const p = raw.trim().replace(/^-\s+/, "");
    if (!p || p.startsWith("#") || p.startsWith("+")) continue;
    const m = /^(.*?)\/\*{1,2}$/.exec(p);
    if (m?.[1] !== undefined && !/[*?[]/.test(m[1])) {
      if (m[1].startsWith("/")) contents.add(m[1].replace(/^\/+/, ""));
      else if (!m[1].includes("/")) anyNamed.add(m[1]);
      continue;
    }
    if (p.startsWith("/") && !/[*?[]/.test(p)) whole.add(p.replace(/^\/+|\/+$/g, ""));
  }
  for (const s of skipPaths) contents.add(s.replace(/^\/+|\/+$/g, ""));
  return {
    contents: (path, name) => contents.has(path) || anyNamed.has(name),
    whole: (path) => whole.has(path),
  };
}

/** Entries looked at between two yields to the event loop, so heartbeats and progress go on during a long walk. */
const ENTRIES_PER_SLICE = 2000;

export async function walkSource(source: string, options: WalkOptions = {}): Promise<SourceWalk> {
  const bigFileBytes = options.bigFileBytes ?? 8 * 2 ** 20;
  const pruner = compilePruner(options.excludes ?? [], options.skipPaths ?? []);
  const inodes = new Map<string, HardLink[]>();
  const rootBuf = Buffer.from(source.replace(/\/+$/, "") || "/");
  const onEntry = options.onEntry;
  const NUL = Buffer.from([0]);

  let sinceYield = 0;
  const walkDir = async (abs: Buffer, path: string | null, name: string, key: Buffer): Promise<WalkDir> => {
    const dir: WalkDir = { path, bytes: 0, entries: 0, dirs: [], bigFiles: [] };
    if (path !== null && path !== "" && pruner.contents(path, name)) return dir;
    let names: Buffer[];
    try {
      names = readdirSync(abs, { encoding: "buffer" });
    } catch {
      return dir; // vanished or unreadable: rsync will report it
    }
    if (onEntry) names.sort(Buffer.compare);
    for (const raw of names) {
      const childAbs = Buffer.concat([abs, Buffer.from(abs.length === 1 && abs[0] === 0x2f ? "" : "/"), raw]);
      const childName = safeName(raw);
      const childPath = path === null || childName === null ? null : path === "" ? childName : `${path}/${childName}`;
      if (childPath !== null && pruner.whole(childPath)) continue;
      if (++sinceYield >= ENTRIES_PER_SLICE) {
        sinceYield = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(childAbs);
      } catch {
        continue;
      }
      if (!st) continue;
      dir.entries += 1;
      const childKey = onEntry ? (key.length ? Buffer.concat([key, NUL, raw]) : raw) : key;
      onEntry?.(childKey, st);
      if (st.isDirectory()) {
        const sub = await walkDir(childAbs, childPath, childName ?? "", childKey);
        dir.dirs.push(sub);
        dir.bytes += sub.bytes;
        dir.entries += sub.entries;
        continue;
      }
      if (!st.isFile()) continue;
      dir.bytes += st.size;
      const big = childPath !== null && st.size >= bigFileBytes;
      if (big) dir.bigFiles.push({ path: childPath, bytes: st.size });
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const links = inodes.get(key) ?? [];
        links.push({ dir, bigFile: big ? childPath : null });
        inodes.set(key, links);
      }
    }
    return dir;
  };

  const root = await walkDir(rootBuf, "", "", Buffer.alloc(0));
  return { root, totalBytes: root.bytes, totalEntries: root.entries, hardLinks: [...inodes.values()].filter((l) => l.length > 1) };
}

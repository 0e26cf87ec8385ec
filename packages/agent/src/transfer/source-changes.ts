// What changed on the source while it was copied. The walk that plans a copy
// writes each entry (path, type, size, mtime) to a snapshot file in walk order;
// a second walk after the copy is merged against it like two sorted lists.
// Memory stays flat on trees of millions of files: the snapshot lives on disk
// (about 20 bytes plus the path per entry), and only counts and a bounded
// sample of paths are kept.
import { closeSync, openSync, readSync, type Stats, writeSync } from "node:fs";
import { type DiskSourceChanges, SOURCE_CHANGE_KINDS, SOURCE_CHANGE_PATH_MAX, SOURCE_CHANGE_SAMPLE, type SourceChange, type SourceChangeKind } from "@hoist/protocol";

export interface SourceChanges {
  appeared: number;
  vanished: number;
  changed: number;
  /** At most SOURCE_CHANGE_SAMPLE paths, relative to the copied tree with a leading "/", shared fairly among the kinds. */
  paths: SourceChange[];
}

export const NO_SOURCE_CHANGES: SourceChanges = { appeared: 0, vanished: 0, changed: 0, paths: [] };

/** Entry types as the snapshot stores them. */
const Kind = { File: 1, Dir: 2, Link: 3, Other: 4 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

function kindOf(st: Stats): Kind {
  if (st.isFile()) return Kind.File;
  if (st.isDirectory()) return Kind.Dir;
  if (st.isSymbolicLink()) return Kind.Link;
  return Kind.Other;
}

/** key length (u32), kind (u8), size (f64), mtime in ms (f64), then the key. */
const HEADER = 4 + 1 + 8 + 8;
const CHUNK = 1 << 20;

/** Writes the snapshot of the walk before a copy. */
export class SnapshotWriter {
  private readonly fd: number;
  private buf = Buffer.allocUnsafe(CHUNK);
  private used = 0;

  constructor(file: string) {
    this.fd = openSync(file, "w", 0o600);
  }

  record(key: Buffer, st: Stats): void {
    const need = HEADER + key.length;
    if (this.used + need > this.buf.length) this.flush();
    if (need > this.buf.length) this.buf = Buffer.allocUnsafe(need * 2);
    const b = this.buf;
    let o = this.used;
    o = b.writeUInt32LE(key.length, o);
    o = b.writeUInt8(kindOf(st), o);
    o = b.writeDoubleLE(st.size, o);
    o = b.writeDoubleLE(st.mtimeMs, o);
    key.copy(b, o);
    this.used = o + key.length;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }

  private flush(): void {
    let off = 0;
    while (off < this.used) off += writeSync(this.fd, this.buf, off, this.used - off);
    this.used = 0;
  }
}

interface Saved {
  key: Buffer;
  kind: Kind;
  size: number;
  mtimeMs: number;
}

/** Reads the snapshot back in order, one record at a time. */
class SnapshotReader {
  private buf = Buffer.allocUnsafe(CHUNK);
  private start = 0;
  private end = 0;
  private eof = false;

  constructor(private readonly fd: number) {}

  next(): Saved | null {
    if (!this.fill(HEADER)) return null;
    const len = this.buf.readUInt32LE(this.start);
    if (!this.fill(HEADER + len)) return null;
    const b = this.buf;
    const s = this.start;
    const rec: Saved = { kind: b.readUInt8(s + 4) as Kind, size: b.readDoubleLE(s + 5), mtimeMs: b.readDoubleLE(s + 13), key: Buffer.from(b.subarray(s + HEADER, s + HEADER + len)) };
    this.start += HEADER + len;
    return rec;
  }

  /** Makes `n` bytes available from `start`; false at the end of the file. */
  private fill(n: number): boolean {
    while (this.end - this.start < n) {
      if (this.eof) return false;
      if (this.start > 0) {
        this.buf.copy(this.buf, 0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      }
      if (n > this.buf.length) {
        const bigger = Buffer.allocUnsafe(n * 2);
        this.buf.copy(bigger, 0, 0, this.end);
        this.buf = bigger;
      }
      const got = readSync(this.fd, this.buf, this.end, this.buf.length - this.end, null);
      if (got === 0) this.eof = true;
      this.end += got;
    }
    return true;
  }
}

/** The changes of one disk's copy, with paths made absolute on the source (`sourcePath` is the disk's folder, "/" for the system disk). */
export function diskSourceChanges(disk: string, sourcePath: string, changes: SourceChanges): DiskSourceChanges {
  const prefix = sourcePath.replace(/\/+$/, "");
  const paths = changes.paths.map((p) => {
    const path = `${prefix}${p.path}`;
    return { ...p, path: path.length > SOURCE_CHANGE_PATH_MAX ? `${path.slice(0, SOURCE_CHANGE_PATH_MAX)}…` : path };
  });
  return { disk, appeared: changes.appeared, vanished: changes.vanished, changed: changes.changed, paths };
}

/** A key ("etc\0ssh\0sshd_config") as a path a person reads ("/etc/ssh/sshd_config"). */
export function keyToPath(key: Buffer): string {
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = 0; i <= key.length; i++) {
    if (i === key.length || key[i] === 0) {
      parts.push(key.subarray(from, i));
      from = i + 1;
    }
  }
  const path = `/${parts.map((p) => p.toString("utf8")).join("/")}`;
  return path.length > SOURCE_CHANGE_PATH_MAX ? `${path.slice(0, SOURCE_CHANGE_PATH_MAX)}…` : path;
}

/**
 * Merges the walk after a copy (fed entry by entry through `visit`, in the
 * walk's order) against the snapshot taken before it. Folders count as changed
 * only when they become something else: their mtimes move with every file
 * made or removed in them, which the files themselves already report.
 */
export class ChangeDetector {
  private readonly fd: number;
  private readonly reader: SnapshotReader;
  private saved: Saved | null;
  private readonly counts: Record<SourceChangeKind, number> = { appeared: 0, vanished: 0, changed: 0 };
  private readonly samples: Record<SourceChangeKind, SourceChange[]> = { appeared: [], vanished: [], changed: [] };
  /** Key of the last folder that appeared / vanished, plus NUL: what lies below it is counted, not named. */
  private appearedDir: Buffer | null = null;
  private vanishedDir: Buffer | null = null;

  constructor(snapshotFile: string) {
    this.fd = openSync(snapshotFile, "r");
    this.reader = new SnapshotReader(this.fd);
    this.saved = this.reader.next();
  }

  visit(key: Buffer, st: Stats): void {
    while (this.saved && Buffer.compare(this.saved.key, key) < 0) this.vanish(this.saved);
    const before = this.saved;
    if (!before?.key.equals(key)) {
      this.appear(key, st);
      return;
    }
    this.saved = this.reader.next();
    const kind = kindOf(st);
    if (kind !== before.kind) {
      this.note("changed", key, kind === Kind.Dir ? { dir: true } : {});
      return;
    }
    if (kind !== Kind.Dir && (before.size !== st.size || before.mtimeMs !== st.mtimeMs)) {
      this.note("changed", key, { bytesBefore: before.size, bytesAfter: st.size });
    }
  }

  /** What was left in the snapshot vanished; closes the snapshot. */
  finish(): SourceChanges {
    try {
      while (this.saved) this.vanish(this.saved);
    } finally {
      closeSync(this.fd);
    }
    // A fair share of the sample for each kind, then what the others left unused.
    const taken: Record<SourceChangeKind, number> = { appeared: 0, vanished: 0, changed: 0 };
    let total = 0;
    for (let round = 0; total < SOURCE_CHANGE_SAMPLE; round++) {
      let added = false;
      for (const k of SOURCE_CHANGE_KINDS) {
        if (round < this.samples[k].length && total < SOURCE_CHANGE_SAMPLE) {
          taken[k]++;
          total++;
          added = true;
        }
      }
      if (!added) break;
    }
    const paths = SOURCE_CHANGE_KINDS.flatMap((k) => this.samples[k].slice(0, taken[k]));
    return { ...this.counts, paths };
  }

  private vanish(s: Saved): void {
    this.saved = this.reader.next();
    const under = this.vanishedDir !== null && startsWith(s.key, this.vanishedDir);
    if (s.kind === Kind.Dir && !under) this.vanishedDir = Buffer.concat([s.key, Buffer.from([0])]);
    this.counts.vanished++;
    if (!under) this.sample("vanished", s.key, s.kind === Kind.Dir ? { dir: true } : {});
  }

  private appear(key: Buffer, st: Stats): void {
    const under = this.appearedDir !== null && startsWith(key, this.appearedDir);
    if (st.isDirectory() && !under) this.appearedDir = Buffer.concat([key, Buffer.from([0])]);
    this.counts.appeared++;
    if (!under) this.sample("appeared", key, st.isDirectory() ? { dir: true } : {});
  }

  private note(change: SourceChangeKind, key: Buffer, extra: Omit<SourceChange, "change" | "path">): void {
    this.counts[change]++;
    this.sample(change, key, extra);
  }

  private sample(change: SourceChangeKind, key: Buffer, extra: Omit<SourceChange, "change" | "path">): void {
    const list = this.samples[change];
    if (list.length < SOURCE_CHANGE_SAMPLE) list.push({ change, path: keyToPath(key), ...extra });
  }
}

function startsWith(key: Buffer, prefix: Buffer): boolean {
  return key.length >= prefix.length && key.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

// A source tree with every kind of file a Linux server holds, and a tree
// comparer that shares no code with the transfer it checks: it walks both
// sides with lstat and asks getfattr/getfacl for extended attributes and ACLs.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, chownSync, closeSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, symlinkSync, type Stats, utimesSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";

const PAST = new Date("2001-09-09T01:46:40Z");
const b = (s: string | Buffer): Buffer => (typeof s === "string" ? Buffer.from(s) : s);
const pj = (...parts: (string | Buffer)[]): Buffer => Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [b(p)] : [Buffer.from("/"), b(p)])));

function sh(cmd: string, args: (string | Buffer)[]): void {
  execFileSync(cmd, args.map((a) => (typeof a === "string" ? a : a.toString("latin1"))), { stdio: "pipe" });
}

function pseudoRandom(bytes: number, seed: number): Buffer {
  const out = Buffer.alloc(bytes);
  let h = createHash("sha256").update(String(seed)).digest();
  for (let off = 0; off < bytes; off += h.length) {
    h.copy(out, off);
    h = createHash("sha256").update(h).digest();
  }
  return out;
}

/** A non-UTF-8 name: Latin-1 "café" as raw bytes. */
export const NON_UTF8_NAME = Buffer.from([0x63, 0x61, 0x66, 0xe9]);

/** Builds the fidelity tree in `dir` (which must exist and be empty). Needs root, setfattr, setcap, setfacl. */
export function buildFidelityTree(dir: string): void {
  const d = (p: string) => join(dir, p);
  for (const sub of ["etc", "usr/bin", "usr/lib", "var/log", "home/alice", "srv/shared", "devices", "odd", "tmp", "deep"]) mkdirSync(d(sub), { recursive: true });
  writeFileSync(d("etc/hostname"), "source-host\n");
  writeFileSync(d("etc/empty"), "");
  writeFileSync(d("usr/lib/one-mib.bin"), pseudoRandom(2 ** 20, 1));
  writeFileSync(d("usr/lib/nine-mib.bin"), pseudoRandom(9 * 2 ** 20 + 123, 2));
  writeFileSync(d("var/log/syslog"), "line\n".repeat(5000));
  writeFileSync(d("home/alice/notes.txt"), "hello\n");

  // Owners by number, one with no name on this system.
  writeFileSync(d("home/alice/owned"), "x");
  chownSync(d("home/alice/owned"), 1234, 5678);
  chownSync(d("home/alice"), 4242, 4242);
  // Special modes (set after chown, which would clear set-id bits).
  writeFileSync(d("usr/bin/setuid-tool"), "#!/bin/sh\n");
  chmodSync(d("usr/bin/setuid-tool"), 0o4755);
  writeFileSync(d("usr/bin/setgid-tool"), "#!/bin/sh\n");
  chownSync(d("usr/bin/setgid-tool"), 0, 5678);
  chmodSync(d("usr/bin/setgid-tool"), 0o2751);
  chmodSync(d("tmp"), 0o1777);
  chownSync(d("srv/shared"), 0, 5678);
  chmodSync(d("srv/shared"), 0o2775);
  writeFileSync(d("odd/private"), "secret-ish");
  chmodSync(d("odd/private"), 0o600);

  // Hard links, inside one folder and across top-level folders.
  writeFileSync(d("usr/bin/tool"), pseudoRandom(70_000, 3));
  linkSync(d("usr/bin/tool"), d("usr/bin/tool-alias"));
  linkSync(d("usr/bin/tool"), d("srv/tool-link"));
  linkSync(d("usr/lib/nine-mib.bin"), d("home/alice/nine-mib-link"));

  // Symlinks: relative, absolute, dangling.
  symlinkSync("../lib/one-mib.bin", d("usr/bin/rel-link"));
  symlinkSync("/etc/hostname", d("home/alice/abs-link"));
  symlinkSync("/nonexistent/target", d("odd/dangling"));

  // A sparse file: 64 MiB apparent, a few blocks allocated (a copy that fills the holes takes 16,000 times the blocks).
  const fd = openSync(d("var/sparse.img"), "w");
  writeSync(fd, Buffer.from("start"), 0, 5, 0);
  writeSync(fd, Buffer.from("middle"), 0, 6, 32 * 2 ** 20);
  writeSync(fd, Buffer.from("end"), 0, 3, 64 * 2 ** 20 - 3);
  closeSync(fd);

  // Extended attributes, a file capability, POSIX ACLs (access and default).
  sh("setfattr", ["-n", "user.origin", "-v", "source-host", d("etc/hostname")]);
  sh("setfattr", ["-n", "user.blob", "-v", "0x00ff10", d("usr/lib/one-mib.bin")]);
  writeFileSync(d("usr/bin/ping-like"), "#!/bin/sh\n");
  chmodSync(d("usr/bin/ping-like"), 0o755);
  sh("setcap", ["cap_net_raw+ep", d("usr/bin/ping-like")]);
  sh("setfacl", ["-m", "u:1234:rwx,g:5678:r-x", d("srv/shared")]);
  sh("setfacl", ["-d", "-m", "u:1234:rwX", d("srv/shared")]);
  writeFileSync(d("srv/shared/acl-file"), "acl\n");
  sh("setfacl", ["-m", "u:4321:r--", d("srv/shared/acl-file")]);

  // A FIFO and device nodes outside /dev.
  sh("mkfifo", [d("devices/fifo")]);
  sh("mknod", [d("devices/null-copy"), "c", "1", "3"]);
  sh("mknod", [d("devices/loop-copy"), "b", "7", "200"]);

  // Hard names.
  writeFileSync(d("odd/with space"), "space\n");
  writeFileSync(d("odd/new\nline"), "newline\n");
  writeFileSync(d("odd/star*[x]?"), "wildcards\n");
  writeFileSync(d("odd/back\\slash"), "backslash\n");
  writeFileSync(pj(dir, "odd", NON_UTF8_NAME), "latin-1\n");
  mkdirSync(pj(dir, Buffer.concat([NON_UTF8_NAME, Buffer.from("-dir")])));
  writeFileSync(pj(dir, Buffer.concat([NON_UTF8_NAME, Buffer.from("-dir")]), "inside"), "x\n");
  writeFileSync(d(`odd/${"n".repeat(255)}`), "long name\n");
  let deep = d("deep");
  for (let i = 0; i < 40; i++) deep = join(deep, `level-${i}`);
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, "bottom.txt"), "deep\n");

  // Old mtimes everywhere, folders last (writing into a folder moves its mtime).
  setPast(Buffer.from(dir));
}

function setPast(path: Buffer): void {
  const st = lstatSync(path);
  if (st.isDirectory()) for (const name of readdirSync(path, { encoding: "buffer" })) setPast(pj(path, name));
  if (st.isSymbolicLink()) lutimesSync(path, PAST, PAST);
  else utimesSync(path, PAST, PAST);
}

interface Entry {
  st: Stats;
  hash?: string;
  target?: string;
}

function walk(root: Buffer, rel: Buffer, out: Map<string, Entry>, skipContents: Set<string>): void {
  const abs = rel.length ? pj(root, rel) : root;
  const st = lstatSync(abs);
  const key = rel.length ? rel.toString("latin1") : ".";
  const e: Entry = { st };
  if (st.isFile()) e.hash = createHash("sha256").update(readFileSync(abs)).digest("hex");
  if (st.isSymbolicLink()) e.target = readlinkSync(abs, { encoding: "buffer" }).toString("latin1");
  out.set(key, e);
  if (st.isDirectory() && !skipContents.has(key)) {
    for (const name of readdirSync(abs, { encoding: "buffer" })) walk(root, rel.length ? pj(rel, name) : name, out, skipContents);
  }
}

function typeOf(st: Stats): string {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "dir";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isFIFO()) return "fifo";
  if (st.isCharacterDevice()) return "char";
  if (st.isBlockDevice()) return "block";
  if (st.isSocket()) return "socket";
  return "other";
}

/** getfattr/getfacl output split per file, with the tree root cut off the names. */
function perFile(cmd: string, args: string[], root: string): Map<string, string> {
  const text = execFileSync(cmd, [...args, root], { maxBuffer: 256 * 2 ** 20, encoding: "latin1" });
  const out = new Map<string, string>();
  for (const block of text.split(/\n(?=# file: )/)) {
    const m = /^# file: (.*)\n([\s\S]*)$/.exec(block.trim());
    if (!m?.[1]) continue;
    const name = m[1] === root ? "." : m[1].startsWith(`${root}/`) ? m[1].slice(root.length + 1) : m[1];
    out.set(name, (m[2] ?? "").trim());
  }
  return out;
}

export interface CompareOptions {
  /** Folders (relative paths) whose contents are excluded: `a` is not looked into, `b` must be empty there. */
  excludedContents?: string[];
}

/** Every difference between two trees, as readable lines; empty when `b` is an exact copy of `a`. */
export function compareTrees(a: string, b: string, options: CompareOptions = {}): string[] {
  const skip = new Set(options.excludedContents ?? []);
  const ea = new Map<string, Entry>();
  const eb = new Map<string, Entry>();
  walk(Buffer.from(a), Buffer.alloc(0), ea, skip);
  walk(Buffer.from(b), Buffer.alloc(0), eb, new Set());
  const diffs: string[] = [];
  const show = (k: string) => JSON.stringify(Buffer.from(k, "latin1").toString("utf8"));
  for (const k of skip) {
    const children = [...eb.keys()].filter((x) => x.startsWith(`${k}/`));
    if (children.length) diffs.push(`${show(k)}: excluded folder is not empty on the copy (${children.length} entries)`);
    if (!eb.has(k)) diffs.push(`${show(k)}: excluded folder is missing on the copy`);
  }
  const inSkipped = (k: string) => [...skip].some((s) => k.startsWith(`${s}/`));
  const linksA = new Map<string, string[]>();
  const linksB = new Map<string, string[]>();
  for (const [k, e] of ea) {
    const f = eb.get(k);
    if (!f) {
      diffs.push(`${show(k)}: missing on the copy`);
      continue;
    }
    const x = e.st;
    const y = f.st;
    const check = (what: string, u: unknown, v: unknown) => {
      if (u !== v) diffs.push(`${show(k)}: ${what} ${String(u)} != ${String(v)}`);
    };
    check("type", typeOf(x), typeOf(y));
    check("mode", (x.mode & 0o7777).toString(8), (y.mode & 0o7777).toString(8));
    check("uid", x.uid, y.uid);
    check("gid", x.gid, y.gid);
    if (!x.isDirectory()) check("size", x.size, y.size);
    check("mtime", Math.floor(x.mtimeMs / 1000), Math.floor(y.mtimeMs / 1000));
    check("content", e.hash, f.hash);
    check("symlink target", e.target, f.target);
    if (x.isCharacterDevice() || x.isBlockDevice()) check("rdev", x.rdev, y.rdev);
    if (x.isFile() && x.blocks * 512 < x.size / 2 && y.blocks * 512 > x.blocks * 512 + 2 ** 20) {
      diffs.push(`${show(k)}: sparse file takes ${y.blocks * 512} bytes on the copy, ${x.blocks * 512} on the source`);
    }
    if (!x.isDirectory() && x.nlink > 1) {
      const ka = `${x.dev}:${x.ino}`;
      const kb = `${y.dev}:${y.ino}`;
      linksA.set(ka, [...(linksA.get(ka) ?? []), k]);
      linksB.set(kb, [...(linksB.get(kb) ?? []), k]);
    }
  }
  for (const k of eb.keys()) if (!ea.has(k) && !inSkipped(k)) diffs.push(`${show(k)}: extra on the copy`);
  const groupsB = new Set([...linksB.values()].map((g) => g.sort().join("\0")));
  for (const g of linksA.values()) {
    if (g.length > 1 && !groupsB.has(g.sort().join("\0"))) diffs.push(`hard links ${g.map(show).join(", ")} are not one inode on the copy`);
  }
  const xa = perFile("getfattr", ["-R", "-d", "-m", "-", "-h", "--absolute-names", "-e", "hex"], a);
  const xb = perFile("getfattr", ["-R", "-d", "-m", "-", "-h", "--absolute-names", "-e", "hex"], b);
  for (const [k, v] of xa) if ((xb.get(k) ?? "") !== v && !inSkipped(k)) diffs.push(`${k}: xattrs differ: ${v} != ${xb.get(k) ?? "(none)"}`);
  for (const [k, v] of xb) if (!xa.has(k) && v && ea.has(k)) diffs.push(`${k}: extra xattrs on the copy: ${v}`);
  const aa = perFile("getfacl", ["-R", "-n", "-P", "--absolute-names"], a);
  const ab = perFile("getfacl", ["-R", "-n", "-P", "--absolute-names"], b);
  for (const [k, v] of aa) if (!inSkipped(k) && ab.get(k) !== v) diffs.push(`${k}: ACL differs:\n${v}\n!=\n${ab.get(k) ?? "(none)"}`);
  return diffs;
}

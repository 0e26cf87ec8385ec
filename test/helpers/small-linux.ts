// A small Linux root that converts like the Debian fixture but is a few MB
// instead of ~800: the fixture's /etc, kernel, virtio drivers, GRUB's BIOS
// modules and grub-mkimage with its libraries, the merged-/usr links and an
// initramfs that already carries the virtio drivers (so the conversion keeps
// it). Tests whose images never boot migrate this instead of the whole tree.
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { debianFixture } from "./debian-fixture";

/** A newc cpio archive (what an initramfs is) of these files, each with mode 0644. */
export function newcArchive(files: { name: string; data: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  const pad = () => {
    const len = parts.reduce((n, b) => n + b.length, 0);
    if (len % 4) parts.push(Buffer.alloc(4 - (len % 4)));
  };
  const entry = (name: string, data: Buffer, mode: number, ino: number) => {
    const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, Buffer.byteLength(name) + 1, 0];
    parts.push(Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, "0")).join("")}${name}\0`, "latin1"));
    pad();
    parts.push(data);
    pad();
  };
  for (const [i, f] of files.entries()) entry(f.name, f.data, 0o100644, i + 1);
  entry("TRAILER!!!", Buffer.alloc(0), 0, 0);
  return Buffer.concat(parts);
}

/** Builds the small root at `root` (which must not exist yet) from the Debian fixture; returns `root`. */
export async function smallLinuxRoot(root: string): Promise<string> {
  const fixture = await debianFixture();
  mkdirSync(root);
  for (const link of ["bin", "lib", "lib64", "sbin"]) symlinkSync(`usr/${link}`, join(root, link));
  const copy = (path: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    execFileSync("cp", ["-a", join(fixture, path), join(root, path)]);
  };
  const kernel = (readdirSync(join(fixture, "boot")).find((f) => f.startsWith("vmlinuz-")) ?? "vmlinuz-").slice("vmlinuz-".length);
  const virtio = ["block/virtio_blk.ko", "net/virtio_net.ko", "scsi/virtio_scsi.ko"].map((m) => `usr/lib/modules/${kernel}/kernel/drivers/${m}`);
  for (const p of ["etc", `boot/vmlinuz-${kernel}`, `boot/config-${kernel}`, "usr/lib/os-release", "usr/lib/grub/i386-pc", "usr/bin/grub-mkimage", "usr/sbin/update-initramfs", ...virtio]) copy(p);
  writeFileSync(join(root, `boot/initrd.img-${kernel}`), gzipSync(newcArchive(virtio.map((m) => ({ name: m, data: readFileSync(join(root, m)) })))));
  const libs = execFileSync("chroot", [fixture, "ldd", "/usr/bin/grub-mkimage"], { encoding: "utf8" })
    .split("\n")
    .map((l) => /(\/\S+) \(0x/.exec(l)?.[1])
    .filter((p): p is string => Boolean(p));
  for (const lib of [...libs, "/usr/lib64/ld-linux-x86-64.so.2"]) {
    const to = join(root, lib.replace(/^\/lib/, "/usr/lib"));
    mkdirSync(dirname(to), { recursive: true });
    if (!existsSync(to)) cpSync(realpathSync(join(fixture, lib)), to);
  }
  mkdirSync(join(root, "lost+found"), { mode: 0o700 });
  // The folders a live root mounts its pseudo-filesystems on (the conversion's chroot mounts them too).
  for (const dir of ["dev", "proc", "sys", "run"]) mkdirSync(join(root, dir), { mode: 0o755 });
  chmodSync(root, 0o755);
  return root;
}

// Which virtio drivers an initramfs carries decides whether the migrated
// system finds its disk on the new hypervisor. Debian's initramfs is an
// uncompressed early cpio (microcode) followed by a compressed main cpio, so
// we walk the plain archives ourselves and hand the compressed tail to the
// matching decompressor.
import { readFile } from "node:fs/promises";
import type { VirtioDrivers } from "@hoist/protocol";
import { haveTool, run } from "@hoist/runtime";

const MAGIC = [
  { bytes: [0x1f, 0x8b], tool: "gzip", args: ["-dc"] },
  { bytes: [0x28, 0xb5, 0x2f, 0xfd], tool: "zstd", args: ["-dcq"] },
  { bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a], tool: "xz", args: ["-dc"] },
  { bytes: [0x02, 0x21, 0x4c, 0x18], tool: "lz4", args: ["-dc"] },
  { bytes: [0x42, 0x5a, 0x68], tool: "bzip2", args: ["-dc"] },
];

/** Lists the names in concatenated newc cpio archives; returns where parsing stopped. */
export function listCpio(buf: Buffer, start = 0): { names: string[]; end: number } {
  const names: string[] = [];
  let off = start;
  for (;;) {
    // Archives are padded with zeros between each other.
    while (off < buf.length && buf[off] === 0) off++;
    if (off + 110 > buf.length) break;
    const magic = buf.toString("ascii", off, off + 6);
    if (magic !== "070701" && magic !== "070702") break;
    const hex = (i: number): number => Number.parseInt(buf.toString("ascii", off + 6 + i * 8, off + 14 + i * 8), 16);
    const fileSize = hex(6);
    const nameSize = hex(11);
    const name = buf.toString("utf8", off + 110, off + 110 + nameSize - 1);
    let next = off + 110 + nameSize;
    next = (next + 3) & ~3;
    next += fileSize;
    next = (next + 3) & ~3;
    if (name !== "TRAILER!!!") names.push(name);
    off = next;
  }
  return { names, end: off };
}

/** All file names inside an initramfs image. */
export async function listInitramfs(path: string): Promise<string[]> {
  if (await haveTool("lsinitramfs")) {
    const r = await run("lsinitramfs", [path], { timeoutMs: 120_000 });
    return r.stdout.split("\n").filter(Boolean);
  }
  const buf = await readFile(path);
  const plain = listCpio(buf);
  const rest = buf.subarray(plain.end);
  const kind = MAGIC.find((m) => m.bytes.every((b, i) => rest[i] === b));
  if (!kind) return plain.names;
  const { spawn } = await import("node:child_process");
  const decompressed = await new Promise<Buffer>((resolve, reject) => {
    const child = spawn(kind.tool, kind.args, { stdio: ["pipe", "pipe", "ignore"] });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => chunks.push(b));
    child.on("error", reject);
    // Trailing padding after the compressed stream makes some decompressors exit non-zero; what they produced is still whole.
    child.on("close", () => resolve(Buffer.concat(chunks)));
    child.stdin.on("error", () => undefined);
    child.stdin.end(rest);
  });
  return [...plain.names, ...listCpio(decompressed).names];
}

export function virtioIn(names: readonly string[]): VirtioDrivers {
  const has = (mod: string): boolean => names.some((n) => n.endsWith(`/${mod}.ko`) || n.endsWith(`/${mod}.ko.xz`) || n.endsWith(`/${mod}.ko.zst`) || n.endsWith(`/${mod}.ko.gz`));
  return { virtio_blk: has("virtio_blk"), virtio_net: has("virtio_net"), virtio_scsi: has("virtio_scsi") };
}

// Loop devices and mounts. This kernel shows no partition nodes for a loop
// device, so each partition is attached on its own (offset + sizelimit), and
// we only ever detach devices we attached ourselves.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import { HoistError } from "@hoist/protocol";
import { run } from "@hoist/runtime";

export interface LoopInfo {
  device: string;
  backFile: string;
  offset: number;
  sizeLimit: number;
}

export async function attachLoop(file: string, offset?: number, sizeLimit?: number, readOnly = false): Promise<string> {
  const args = ["--find", "--show"];
  if (readOnly) args.push("--read-only");
  if (offset !== undefined) args.push("--offset", String(offset));
  if (sizeLimit !== undefined) args.push("--sizelimit", String(sizeLimit));
  args.push(file);
  // losetup --find races with other processes taking the same free device; a retry picks the next one.
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await run("losetup", args, { code: "Disk.LoopAttachFailed" });
      return r.stdout.trim();
    } catch (e) {
      if (attempt >= 4) throw e;
      await new Promise((res) => setTimeout(res, 300 * (attempt + 1)));
    }
  }
}

export async function loopInfo(device: string): Promise<LoopInfo | null> {
  try {
    const r = await run("losetup", ["--list", "--json", "--output", "NAME,BACK-FILE,OFFSET,SIZELIMIT", device]);
    const parsed = JSON.parse(r.stdout) as { loopdevices?: { name: string; "back-file": string | null; offset: number | string; sizelimit: number | string }[] };
    const d = parsed.loopdevices?.[0];
    if (!d?.["back-file"]) return null;
    return { device: d.name, backFile: d["back-file"].replace(/ \(deleted\)$/, ""), offset: Number(d.offset), sizeLimit: Number(d.sizelimit) };
  } catch {
    return null;
  }
}

/** Whether a loop device still has a backing file (sysfs shows it until the kernel lets it go). */
function loopBound(device: string): boolean {
  return existsSync(`/sys/block/${basename(device)}/loop/backing_file`);
}

/**
 * Detaches a loop device and waits (at most 15 s) until the kernel has let it go. A device that
 * something holds open at that moment (a blkid or udev probe of every block device, say) is only
 * marked to clear itself when the holder closes it; returning before then would leave the disk
 * file attached for whoever looks next.
 */
export async function detachLoop(device: string): Promise<void> {
  await run("losetup", ["-d", device], { code: "Disk.LoopDetachFailed", okExitCodes: [0, 1] });
  for (let waited = 0; waited < 15_000 && loopBound(device); waited += 100) await new Promise((res) => setTimeout(res, 100));
}

export async function isMounted(dir: string): Promise<boolean> {
  const r = await run("findmnt", ["-n", "--mountpoint", dir], { okExitCodes: [0, 1] });
  return r.exitCode === 0;
}

export async function mountDevice(device: string, dir: string, options: string[] = []): Promise<void> {
  mkdirSync(dir, { recursive: true });
  if (await isMounted(dir)) return;
  await run("mount", [...(options.length ? ["-o", options.join(",")] : []), device, dir], { code: "Disk.MountFailed" });
}

export async function unmount(dir: string): Promise<void> {
  if (!(await isMounted(dir))) return;
  for (let attempt = 0; ; attempt++) {
    try {
      await run("umount", [dir], { code: "Disk.UnmountFailed" });
      return;
    } catch (e) {
      // Something (udev's blkid, a late reader) may hold the filesystem for a moment.
      if (attempt >= 5) throw new HoistError("Disk.UnmountFailed", `Could not unmount ${dir}: ${(e as Error).message}`, { fix: `Stop processes using ${dir} (fuser -m ${dir}) and retry.`, retryable: true });
      await new Promise((res) => setTimeout(res, 500 * (attempt + 1)));
    }
  }
}

/** Whether the running kernel can mount `fs` (some kernels are built without vfat). */
export function kernelHasFs(fs: string): boolean {
  try {
    return readFileSync("/proc/filesystems", "utf8").split("\n").some((l) => l.trim().split(/\s+/).pop() === fs);
  } catch {
    return false;
  }
}

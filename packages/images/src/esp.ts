// The EFI system partition is FAT. Where the kernel cannot mount vfat, the
// ESP is written with mtools straight on its loop device; the rest of the
// pipeline does not need to know which way was taken.
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { run } from "@hoist/runtime";

// mtools refuses FAT images whose geometry is not a whole number of tracks; ours are raw partitions, where that does not matter.
const env = { ...process.env, MTOOLS_SKIP_CHECK: "1" };

/** Copies a file to `dest` (e.g. /EFI/BOOT/BOOTX64.EFI) on the FAT filesystem of `device`, creating folders. */
export async function fatPut(device: string, file: string, dest: string): Promise<void> {
  const parts = dest.split("/").filter(Boolean);
  let dir = "";
  for (const p of parts.slice(0, -1)) {
    dir += `/${p}`;
    await run("mmd", ["-i", device, `::${dir}`], { env, okExitCodes: [0, 1] });
  }
  await run("mcopy", ["-o", "-i", device, file, `::${dest}`], { env, code: "Convert.BootloaderFailed" });
}

/** Moves what the copy put into the root filesystem's /boot/efi folder (hidden under the ESP at boot) onto the ESP itself. */
export async function fatAbsorb(device: string, folder: string): Promise<string[]> {
  if (!existsSync(folder)) return [];
  const entries = readdirSync(folder);
  if (entries.length === 0) return [];
  await run("mcopy", ["-s", "-o", "-i", device, ...entries.map((e) => join(folder, e)), "::/"], { env, code: "Convert.BootloaderFailed" });
  for (const e of entries) rmSync(join(folder, e), { recursive: true, force: true });
  return entries;
}

export async function fatHas(device: string, path: string): Promise<boolean> {
  const r = await run("mdir", ["-b", "-i", device, `::${path}`], { env, okExitCodes: [0, 1] });
  return r.exitCode === 0;
}

/** Reads a file from a FAT filesystem into `out`. */
export async function fatGet(device: string, path: string, out: string): Promise<void> {
  await run("mcopy", ["-o", "-i", device, `::${path}`, out], { env });
}

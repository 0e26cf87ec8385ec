// The local image store: one folder per image holding a qcow2 file per target
// disk and manifest.json. Images are written to a hidden temp folder and
// renamed into place, so a listed image is always complete.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { type ConversionReport, HoistError, type ImageManifest, ImageManifestSchema, ImageNameSchema, type SourceInventory, type TargetPlan } from "@hoist/protocol";
import { run } from "@hoist/runtime";
import type { PreparedDisk } from "./backend";

export function defaultImageStore(): string {
  return process.env.HOIST_IMAGE_STORE ?? "/var/lib/hoist/images";
}

export interface ImageFields {
  region?: string;
  plan: TargetPlan;
  inventory: SourceInventory;
  conversion: ConversionReport | null;
}

export function validateImageName(name: string): string {
  const r = ImageNameSchema.safeParse(name);
  if (!r.success) {
    const shown = JSON.stringify(name.length > 60 ? `${name.slice(0, 57)}...` : name);
    throw new HoistError("Image.InvalidName", `${shown} is not a valid image name: ${r.error.issues[0]?.message ?? "invalid"}`, { fix: "Use 2–128 characters starting with a letter; letters, digits, '.', ':', '_' and '-' only." });
  }
  return name;
}

function imageDir(store: string, name: string): string {
  return join(store, validateImageName(name));
}

export function readManifest(store: string, name: string): ImageManifest {
  const path = join(imageDir(store, name), "manifest.json");
  if (!existsSync(path)) throw new HoistError("Image.NotFound", `There is no image named ${name} in ${store}.`, { fix: "Run `hoist image list` to see the images in this store." });
  return ImageManifestSchema.parse(JSON.parse(readFileSync(path, "utf8")));
}

export function writeManifest(store: string, manifest: ImageManifest): void {
  const path = join(imageDir(store, manifest.name), "manifest.json");
  writeFileSync(`${path}.tmp`, `${JSON.stringify(ImageManifestSchema.parse(manifest), null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

export function imagePath(store: string, name: string, file: string): string {
  return join(imageDir(store, name), file);
}

export async function createImage(store: string, name: string, disks: PreparedDisk[], fields: ImageFields): Promise<ImageManifest> {
  const region = fields.region ?? "local";
  const dir = imageDir(store, name);
  if (existsSync(join(dir, "manifest.json"))) {
    const existing = readManifest(store, name);
    throw new HoistError("Image.NameExists", `An image named ${name} already exists in region ${existing.region}.`, { fix: "Choose another image name, or remove the old image with `hoist image rm`." });
  }
  mkdirSync(store, { recursive: true });
  const tmp = join(store, `.${name}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    const ordered = [...disks].sort((a, b) => (a.key === "system" ? -1 : b.key === "system" ? 1 : a.key.localeCompare(b.key, "en", { numeric: true })));
    const out: ImageManifest["disks"] = [];
    for (const d of ordered) {
      const file = `${d.key}.qcow2`;
      try {
        await run("qemu-img", ["convert", "-O", "qcow2", "-f", "raw", d.rawPath, join(tmp, file)], { code: "Image.ConvertFailed", timeoutMs: 60 * 60_000 });
      } catch (e) {
        if (/No space left/i.test((e as Error).message)) throw new HoistError("Image.StoreFull", `The image store ${store} ran out of space writing ${file}.`, { fix: "Free space in the image store or point HOIST_IMAGE_STORE elsewhere.", retryable: true, cause: e });
        throw e;
      }
      out.push({ key: d.key, file, format: "qcow2", virtualSizeBytes: statSync(d.rawPath).size });
    }
    const mounts = fields.plan.disks.flatMap((disk) => disk.partitions.map((p) => ({ mountPoint: p.mountPoint, uuid: p.uuid ?? "", fs: p.fs, disk: disk.key })));
    const manifest: ImageManifest = ImageManifestSchema.parse({
      name,
      region,
      disks: out,
      bootMode: fields.plan.bootMode,
      mounts,
      source: { os: fields.inventory.os.prettyName, kernel: fields.inventory.kernels[0]?.version ?? null, usedBytes: fields.inventory.usedBytes, systemDiskBytes: fields.inventory.systemDiskBytes },
      conversion: fields.conversion,
      createdAt: new Date().toISOString(),
      verification: { status: "unverified" },
    });
    writeFileSync(join(tmp, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    return manifest;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

export function listImages(store: string): ImageManifest[] {
  if (!existsSync(store)) return [];
  const out: ImageManifest[] = [];
  for (const entry of readdirSync(store)) {
    if (entry.startsWith(".")) continue;
    const path = join(store, entry, "manifest.json");
    if (!existsSync(path)) continue;
    const parsed = ImageManifestSchema.safeParse(JSON.parse(readFileSync(path, "utf8")));
    if (parsed.success) out.push(parsed.data);
  }
  return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

export function removeImage(store: string, name: string): void {
  readManifest(store, name);
  rmSync(imageDir(store, name), { recursive: true, force: true });
}

/**
 * Writes the image's disks to `dest` (the system disk) and, for data disks,
 * beside it as <dest-stem>-<disk>.<ext>. Returns the files written.
 */
export async function exportImage(store: string, name: string, format: "raw" | "qcow2", dest: string): Promise<string[]> {
  const manifest = readManifest(store, name);
  mkdirSync(dirname(dest), { recursive: true });
  const ext = extname(dest);
  const stem = join(dirname(dest), basename(dest, ext));
  const files: string[] = [];
  for (const d of manifest.disks) {
    const target = d.key === "system" ? dest : `${stem}-${d.key}${ext || `.${format}`}`;
    if (existsSync(target)) throw new HoistError("Image.ExportExists", `${target} already exists.`, { fix: "Choose another --output or remove the file first." });
    await run("qemu-img", ["convert", "-f", d.format, "-O", format, imagePath(store, name, d.file), target], { code: "Image.ExportFailed", timeoutMs: 60 * 60_000 });
    files.push(target);
  }
  return files;
}

// The static image check: no boot, only reading the image's filesystems
// (attached read-only from a scratch raw copy) for the mistakes that stop a
// migrated system from booting or being reached: fstab and grub.cfg naming
// filesystems or files that are not there, an initramfs without virtio, no
// bootloader, no DHCP. Filesystems inside an LVM physical volume are read
// like partitions, each LV through a loop device over its extents.
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ImageFinding } from "@hoist/protocol";
import { run } from "@hoist/runtime";
import { parseFstab } from "./fstab";
import { fatHas } from "./esp";
import { type ImageLv, isLvmPv, lvDeviceKey, readImageLvs } from "./image-check-lvm";
import { imagePath, readManifest } from "./image-store";
import { listInitramfs, virtioIn } from "./initramfs";
import { attachLoop, detachLoop, mountDevice, unmount } from "./loop";

interface AttachedFs {
  disk: string;
  uuid: string;
  fs: string;
  loop: string;
  dir: string | null;
  /** The logical volume this filesystem is on, if it is on one. */
  lv?: ImageLv;
}

interface PartitionEntry {
  start: number;
  size: number;
  type?: string;
}

function critical(code: string, message: string, fix: string): ImageFinding {
  return { severity: "Critical", code, message, fix };
}

function warning(code: string, message: string, fix: string): ImageFinding {
  return { severity: "Warning", code, message, fix };
}

function firstSector(path: string): Buffer {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(512);
    readSync(fd, buf, 0, 512, 0);
    return buf;
  } finally {
    closeSync(fd);
  }
}

function read(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

function dhcpConfigured(root: string): boolean {
  const ifaces = [read(join(root, "etc/network/interfaces")) ?? ""];
  const dDir = join(root, "etc/network/interfaces.d");
  if (existsSync(dDir)) for (const f of readdirSync(dDir)) ifaces.push(read(join(dDir, f)) ?? "");
  if (ifaces.some((t) => /^\s*iface\s+\S+\s+inet6?\s+dhcp/m.test(t))) return true;
  for (const dir of ["etc/systemd/network", "run/systemd/network"]) {
    const p = join(root, dir);
    if (existsSync(p) && readdirSync(p).some((f) => f.endsWith(".network") && /^\s*DHCP\s*=\s*(yes|true|ipv4|both)/im.test(read(join(p, f)) ?? ""))) return true;
  }
  const np = join(root, "etc/netplan");
  if (existsSync(np) && readdirSync(np).some((f) => /dhcp4:\s*(true|yes)/.test(read(join(np, f)) ?? ""))) return true;
  const nm = join(root, "etc/NetworkManager/system-connections");
  return existsSync(nm) && readdirSync(nm).some((f) => /method=auto/.test(read(join(nm, f)) ?? ""));
}

/** The disk's partitions in bytes; a disk without a partition table is read as one whole-disk region (a PV may sit there). */
async function partitionsOf(raw: string): Promise<PartitionEntry[]> {
  const r = await run("sfdisk", ["-J", raw], { code: "Image.CheckFailed", okExitCodes: [0, 1] });
  if (r.exitCode !== 0 || !r.stdout.trim()) return [{ start: 0, size: statSync(raw).size }];
  const table = JSON.parse(r.stdout) as { partitiontable: { sectorsize?: number; partitions?: { start: number; size: number; type?: string }[] } };
  const sector = table.partitiontable.sectorsize ?? 512;
  return (table.partitiontable.partitions ?? []).map((p) => ({ start: p.start * sector, size: p.size * sector, type: p.type }));
}

async function blkid(loop: string): Promise<{ uuid: string; fs: string }> {
  const info = await run("blkid", ["-p", "-o", "export", loop], { okExitCodes: [0, 2] });
  return { uuid: /^UUID=(.*)$/m.exec(info.stdout)?.[1] ?? "", fs: /^TYPE=(.*)$/m.exec(info.stdout)?.[1] ?? "" };
}

/**
 * What is wrong with the kernel's root= on a grub.cfg linux line, or null: it must name a filesystem in the image
 * (by UUID, or as an LV of the image's volume groups) and that filesystem must be the one mounted as /.
 * Other spellings (LABEL=, PARTUUID=, /dev/sdX) are left alone.
 */
function grubRootFinding(spec: string | undefined, rootFs: AttachedFs, attached: AttachedFs[], byLvKey: Map<string, AttachedFs>, vgs: Set<string>): ImageFinding | null {
  if (!spec) return null;
  const uuid = /^UUID=(.+)$/.exec(spec)?.[1];
  const lvKey = lvDeviceKey(spec);
  let target: AttachedFs | undefined;
  if (uuid) {
    target = attached.find((a) => a.uuid.toLowerCase() === uuid.toLowerCase());
    if (!target) return critical("Image.GrubRootUnknown", `grub.cfg boots with root=UUID=${uuid}, which no filesystem in the image has.`, "Regenerate grub.cfg so root= names the new root filesystem UUID.");
  } else if (lvKey && (vgs.has(lvKey.split("/")[0] ?? "") || spec.startsWith("/dev/mapper/"))) {
    target = byLvKey.get(lvKey);
    if (!target) return critical("Image.GrubRootUnknown", `grub.cfg boots with root=${spec}, which is no logical volume in the image.`, "Regenerate grub.cfg so root= names the logical volume (or the filesystem UUID) that holds /.");
  } else {
    return null;
  }
  if (target === rootFs) return null;
  return critical("Image.GrubRootNotRoot", `grub.cfg boots with root=${spec}, which is not the image's root filesystem, so the kernel would not find /sbin/init.`, "Regenerate grub.cfg so root= names the filesystem mounted at /.");
}

/** Findings for the image; an image fit to boot has no Critical ones. */
export async function checkImage(store: string, name: string): Promise<ImageFinding[]> {
  const manifest = readManifest(store, name);
  const work = mkdtempSync(join(tmpdir(), "hoist-check-"));
  const attached: AttachedFs[] = [];
  const findings: ImageFinding[] = [];
  try {
    let mbr: Buffer | null = null;
    for (const d of manifest.disks) {
      // Loop devices cannot read qcow2, so the check reads a sparse raw copy; the image files are never opened for writing.
      const raw = join(work, `${d.key}.raw`);
      await run("qemu-img", ["convert", "-f", d.format, "-O", "raw", imagePath(store, name, d.file), raw], { code: "Image.CheckFailed", timeoutMs: 60 * 60_000 });
      if (d.key === "system") mbr = firstSector(raw);
      for (const [i, p] of (await partitionsOf(raw)).entries()) {
        const loop = await attachLoop(raw, p.start, p.size, true);
        const entry: AttachedFs = { disk: d.key, uuid: "", fs: "", loop, dir: null };
        attached.push(entry);
        Object.assign(entry, await blkid(loop));
        if (!isLvmPv(p.type, entry.fs)) continue;
        let lvs: ImageLv[];
        try {
          lvs = await readImageLvs(join(work, `lvm-${d.key}-${i}`), loop);
        } catch (e) {
          const why = e instanceof Error ? e.message : String(e);
          findings.push(warning("Image.LvmUnreadable", `The LVM physical volume on ${d.key} could not be read, so the filesystems on its logical volumes were not checked: ${why}`, "Check that the volume group's metadata is intact (pvck on the PV)."));
          continue;
        }
        for (const lv of lvs) {
          const lvEntry: AttachedFs = { disk: d.key, uuid: "", fs: "", loop: await attachLoop(raw, p.start + lv.offset, lv.size, true), dir: null, lv };
          attached.push(lvEntry);
          Object.assign(lvEntry, await blkid(lvEntry.loop));
        }
      }
    }
    const uuids = new Set(attached.map((a) => a.uuid.toLowerCase()).filter(Boolean));
    const byLvKey = new Map<string, AttachedFs>(attached.flatMap((a) => (a.lv ? [[`${a.lv.vg}/${a.lv.lv}`, a] as const] : [])));
    const vgs = new Set(attached.flatMap((a) => (a.lv ? [a.lv.vg] : [])));
    const byMount = new Map(manifest.mounts.map((m) => [m.mountPoint, m]));
    const mountFs = async (mountPoint: string, dir: string): Promise<AttachedFs | null> => {
      const want = byMount.get(mountPoint);
      // Without the manifest's root UUID, guess a Linux filesystem on the system disk, but never one the manifest gives to another mount point (/boot).
      const named = new Set(manifest.mounts.filter((m) => m.mountPoint !== mountPoint).map((m) => m.uuid.toLowerCase()));
      const a = attached.find((x) => want && x.uuid.toLowerCase() === want.uuid.toLowerCase()) ?? (mountPoint === "/" ? attached.find((x) => x.disk === "system" && (x.fs === "ext4" || x.fs === "xfs") && x.uuid && !named.has(x.uuid.toLowerCase())) : undefined);
      if (!a) return null;
      // Mounting one filesystem twice would leave the first mount behind when the check cleans up.
      if (a.dir) return a;
      const opts = a.fs === "ext4" ? ["ro", "noload"] : a.fs === "xfs" ? ["ro", "norecovery"] : ["ro"];
      await mountDevice(a.loop, dir, opts);
      a.dir = dir;
      return a;
    };
    const root = join(work, "root");
    const rootFs = await mountFs("/", root);
    if (!rootFs) {
      findings.push(critical("Image.NoRootFilesystem", "The system disk has no root filesystem that the image's manifest names.", "Rebuild the image from the migrated disks."));
      return findings;
    }
    let bootDir = join(root, "boot");
    const bootFs = byMount.has("/boot") ? await mountFs("/boot", join(work, "boot")) : null;
    if (bootFs && bootFs !== rootFs) bootDir = join(work, "boot");
    const espUuid = byMount.get("/boot/efi")?.uuid.toLowerCase();
    const esp = espUuid ? attached.find((a) => a.uuid.toLowerCase() === espUuid) : undefined;

    const fstab = read(join(root, "etc/fstab")) ?? "";
    for (const e of parseFstab(fstab)) {
      const m = /^UUID=(.+)$/.exec(e.spec);
      if (!m?.[1] || uuids.has(m[1].toLowerCase())) continue;
      const nofail = e.options.split(",").includes("nofail");
      const msg = `fstab mounts ${e.file} from UUID=${m[1]}, which no filesystem in the image has.`;
      const fix = "Point the fstab entry at the filesystem's new UUID (blkid shows it), or comment it out.";
      findings.push(nofail ? warning("Image.FstabUnknownUuid", `${msg} It is marked nofail, so the boot goes on without it.`, fix) : critical("Image.FstabUnknownUuid", `${msg} The boot will stop in emergency mode.`, fix));
    }
    for (const e of parseFstab(fstab).filter((x) => x.spec.startsWith("/dev/"))) {
      const lvKey = lvDeviceKey(e.spec);
      // Only names in a VG this image holds are judged: a /dev/mapper name may also be a LUKS or multipath device.
      if (lvKey && vgs.has(lvKey.split("/")[0] ?? "")) {
        if (byLvKey.has(lvKey)) continue;
        const nofail = e.options.split(",").includes("nofail");
        const msg = `fstab mounts ${e.file} from ${e.spec}, a logical volume that the image's volume group does not have.`;
        const fix = "Point the fstab entry at an existing logical volume or at its filesystem UUID (blkid shows it), or comment it out.";
        findings.push(nofail ? warning("Image.FstabUnknownLv", `${msg} It is marked nofail, so the boot goes on without it.`, fix) : critical("Image.FstabUnknownLv", `${msg} The boot will stop in emergency mode.`, fix));
        continue;
      }
      if (e.spec.startsWith("/dev/mapper/")) continue;
      findings.push(warning("Image.FstabDeviceName", `fstab mounts ${e.file} by device name ${e.spec}, which can change on a new hypervisor.`, "Use UUID= instead of the device name."));
    }

    const grubCfg = read(join(bootDir, "grub/grub.cfg"));
    const bootPrefix = bootDir === join(root, "boot") ? "/boot" : "";
    if (grubCfg === null) {
      findings.push(critical("Image.NoGrubConfig", "The image has no /boot/grub/grub.cfg.", "Convert the image again so the bootloader configuration is written."));
    } else {
      for (const m of grubCfg.matchAll(/^\s*(linux|linux16|linuxefi|initrd|initrd16|initrdefi)\s+(\S+)(.*)$/gm)) {
        const kind = m[1]?.startsWith("linux") ? "kernel" : "initramfs";
        const path = (m[2] ?? "").replace(/^\([^)]*\)/, "");
        const onDisk = bootPrefix && path.startsWith("/boot/") ? join(bootDir, path.slice("/boot".length)) : join(bootDir, path);
        if (!existsSync(onDisk)) findings.push(critical(kind === "kernel" ? "Image.GrubKernelMissing" : "Image.GrubInitrdMissing", `grub.cfg loads the ${kind} ${path}, which is not in the image.`, "Regenerate grub.cfg for the kernels that are installed."));
        if (kind === "kernel") {
          const f = grubRootFinding(/\broot=(\S+)/.exec(m[3] ?? "")?.[1], rootFs, attached, byLvKey, vgs);
          if (f) findings.push(f);
        }
      }
      for (const m of grubCfg.matchAll(/search\s[^\n]*--fs-uuid[^\n]*?\s([0-9A-Fa-f-]{8,})\s*$/gm)) {
        if (m[1] && !uuids.has(m[1].toLowerCase())) findings.push(critical("Image.GrubSearchUnknown", `grub.cfg searches for filesystem UUID ${m[1]}, which is not in the image.`, "Regenerate grub.cfg for the new filesystem UUIDs."));
      }
    }

    const initrds = existsSync(bootDir) ? readdirSync(bootDir).filter((f) => f.startsWith("initrd.img-") || /^initramfs-.*\.img$/.test(f)) : [];
    if (initrds.length === 0) findings.push(critical("Image.NoInitramfs", "The image has no initramfs in /boot.", "Regenerate the initramfs (update-initramfs -c -k all) and convert again."));
    for (const f of initrds) {
      let names: string[] = [];
      try {
        names = await listInitramfs(join(bootDir, f));
      } catch {
        names = [];
      }
      const v = virtioIn(names);
      if (!v.virtio_blk) findings.push(critical("Image.NoVirtioInitramfs", `${f} has no virtio_blk driver, so the kernel cannot find its root disk on the new hypervisor.`, "Add virtio_blk virtio_pci virtio_net virtio_scsi to /etc/initramfs-tools/modules (or dracut add_drivers) and regenerate the initramfs."));
      else if (!v.virtio_net) findings.push(warning("Image.NoVirtioNet", `${f} has no virtio_net driver; the NIC comes up only after the root filesystem is mounted.`, "Add virtio_net to the initramfs modules."));
    }

    if (!dhcpConfigured(root)) findings.push(critical("Image.NoDhcpNetwork", "No network configuration in the image uses DHCP, so the new instance would not get an address.", "Configure DHCP for eth0/en* (ifupdown, systemd-networkd or netplan)."));

    if (manifest.bootMode === "bios") {
      if (!mbr || mbr.subarray(0, 440).every((b) => b === 0)) findings.push(critical("Image.NoBootloader", "The system disk's MBR holds no boot code.", "Install GRUB for BIOS on the system disk."));
    } else if (!esp || !(await fatHas(esp.loop, "/EFI/BOOT/BOOTX64.EFI"))) {
      findings.push(critical("Image.NoBootloader", "The EFI system partition has no EFI/BOOT/BOOTX64.EFI.", "Install GRUB EFI at the removable-media path."));
    }
    return findings;
  } finally {
    for (const a of [...attached].reverse()) {
      if (a.dir) await unmount(a.dir).catch(() => undefined);
    }
    for (const a of attached) await detachLoop(a.loop).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

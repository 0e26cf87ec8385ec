// Checks of what the migrated system needs to boot on a virtio machine: the
// newest kernel's initramfs must carry a virtio disk driver (or the kernel has
// it built in), and GRUB must be 1.9 or later.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { release } from "node:os";
import { join } from "node:path";
import { listInitramfs, virtioIn } from "@hoist/images";
import { run } from "@hoist/runtime";
import { compareVersions } from "./system-items";
import type { CheckItem } from "./types";

const VIRTIO_FIX =
  "Add virtio_blk, virtio_scsi, virtio_pci and virtio_net to the initramfs and rebuild it: on Debian and Ubuntu list them in /etc/initramfs-tools/modules and run update-initramfs -u; on CentOS and Red Hat run dracut -f --add-drivers \"virtio_blk virtio_scsi virtio_pci virtio_net\".";

function initramfsFor(root: string, version: string): string | undefined {
  const names = [`initrd.img-${version}`, `initramfs-${version}.img`, `initrd-${version}`, `initrd-${version}.img`];
  return names.map((n) => join(root, "boot", n)).find((p) => existsSync(p));
}

function moduleDirs(root: string, version: string): string[] {
  return [join(root, "lib/modules", version), join(root, "usr/lib/modules", version)].filter((d) => existsSync(d));
}

/** Whether the kernel has a virtio disk driver built in, or at least ships one as a module. */
function kernelVirtio(root: string, version: string): { builtin: boolean; module: boolean } {
  let builtin = false;
  let module = false;
  for (const dir of moduleDirs(root, version)) {
    const listed = (file: string) => (existsSync(join(dir, file)) ? readFileSync(join(dir, file), "utf8") : "");
    if (/\/virtio_(blk|scsi)\.ko/.test(listed("modules.builtin"))) builtin = true;
    if (/\/virtio_(blk|scsi)\.ko/.test(listed("modules.dep"))) module = true;
  }
  // The running kernel tells directly: a built-in driver has a /sys/module entry without an initstate file.
  if (root === "/" && version === release()) {
    for (const name of ["virtio_blk", "virtio_scsi"]) {
      if (existsSync(`/sys/module/${name}`) && !existsSync(`/sys/module/${name}/initstate`)) builtin = true;
    }
  }
  return { builtin, module };
}

/** Kernel versions installed in the tree, newest first. */
export function kernelsOf(root: string): string[] {
  const boot = join(root, "boot");
  const found = existsSync(boot) ? readdirSync(boot).flatMap((f) => (f.startsWith("vmlinuz-") ? [f.slice("vmlinuz-".length)] : [])) : [];
  return found.sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
}

export async function checkVirtio(sourceRoot: string): Promise<CheckItem> {
  const versions = sourceRoot === "/" ? [release()] : kernelsOf(sourceRoot);
  const version = versions[0];
  if (!version) return { id: "virtio", status: "FAIL", detail: `no kernel (boot/vmlinuz-*) in ${sourceRoot}`, fix: "Install a kernel package in the tree being migrated." };
  const kernel = kernelVirtio(sourceRoot, version);
  if (kernel.builtin) return { id: "virtio", status: "OK", detail: `kernel ${version} has the virtio disk driver built in` };
  const initrd = initramfsFor(sourceRoot, version);
  if (!initrd) {
    return { id: "virtio", status: kernel.module ? "WARN" : "FAIL", detail: `kernel ${version} has no initramfs in ${join(sourceRoot, "boot")}`, fix: VIRTIO_FIX };
  }
  let names: string[];
  try {
    names = await listInitramfs(initrd);
  } catch (e) {
    return { id: "virtio", status: "WARN", detail: `${initrd} could not be read: ${(e as Error).message}`, fix: VIRTIO_FIX };
  }
  const drivers = virtioIn(names);
  const present = Object.entries(drivers).flatMap(([k, v]) => (v ? [k] : []));
  if (drivers.virtio_blk || drivers.virtio_scsi) return { id: "virtio", status: "OK", detail: `initramfs of kernel ${version} has ${present.join(", ")}` };
  // Without the module on disk the conversion cannot add it either.
  return {
    id: "virtio",
    status: kernel.module ? "WARN" : "FAIL",
    detail: `initramfs of kernel ${version} (${initrd}) has no virtio disk driver${kernel.module ? "; the kernel ships it, so Hoist adds it while converting" : ", and the kernel's modules do not include one"}`,
    fix: VIRTIO_FIX,
  };
}

/** "2.06" from `grub-install (GRUB) 2.06-13+deb12u2`, "0.97" from `grub-install (GNU GRUB 0.97)`. */
export function parseGrubVersion(text: string): string | undefined {
  return /GRUB\)?\s+v?(\d+\.\d+)/.exec(text)?.[1];
}

async function grubVersionOf(sourceRoot: string): Promise<{ version: string; from: string } | undefined> {
  if (sourceRoot === "/") {
    for (const tool of ["grub-install", "grub2-install"]) {
      try {
        const out = await run(tool, ["--version"], { timeoutMs: 10_000 });
        const v = parseGrubVersion(out.stdout + out.stderr);
        if (v) return { version: v, from: tool };
      } catch {
        // Try the next name; distributions differ.
      }
    }
  }
  const status = join(sourceRoot, "var/lib/dpkg/status");
  if (existsSync(status)) {
    for (const block of readFileSync(status, "utf8").split(/\n\n+/)) {
      const pkg = /^Package: (grub-common|grub2-common|grub-pc|grub-legacy)$/m.exec(block)?.[1];
      const installed = /^Status: .* installed$/m.test(block);
      const v = /^Version: (?:\d+:)?(\d+\.\d+)/m.exec(block)?.[1];
      if (pkg && installed && v) return { version: v, from: `dpkg package ${pkg}` };
    }
  }
  if (existsSync(join(sourceRoot, "boot/grub/stage2")) || existsSync(join(sourceRoot, "usr/lib/grub/x86_64-pc/stage2"))) return { version: "0.97", from: "GRUB legacy stage2" };
  for (const dir of ["usr/lib/grub", "usr/lib/grub2"]) if (existsSync(join(sourceRoot, dir, "i386-pc")) || existsSync(join(sourceRoot, dir, "x86_64-efi"))) return { version: "2", from: `${dir} modules` };
  return undefined;
}

export async function checkGrub(sourceRoot: string): Promise<CheckItem> {
  const found = await grubVersionOf(sourceRoot);
  const fix = "Install or update GRUB to 1.99 or later (Debian and Ubuntu: apt-get install grub-pc; CentOS and Red Hat: yum install grub2).";
  if (!found) return { id: "grub", status: "FAIL", detail: `no GRUB found in ${sourceRoot}`, fix };
  if (compareVersions(found.version, "1.9") < 0) return { id: "grub", status: "FAIL", detail: `GRUB ${found.version} (${found.from}) is older than 1.9`, fix };
  return { id: "grub", status: "OK", detail: `GRUB ${found.version} (${found.from})` };
}

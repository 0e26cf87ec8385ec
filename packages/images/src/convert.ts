// Convert: make the copied system boot on the new hypervisor. Runs against
// the mounted target disks; each step records the files it changed as a
// unified diff, and a failing step stops the conversion with
// Convert.<Step>Failed and the report so far.
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type ConversionReport, type ConversionStep, HoistError, type TargetPlan } from "@hoist/protocol";
import type { Logger } from "@hoist/runtime";
import type { JobTargets } from "./backend";
import { withChroot } from "./chroot";
import { partitionDevice } from "./disk-backend";
import { fatAbsorb, fatPut } from "./esp";
import { diskMountPath } from "./job-paths";
import { isMounted } from "./loop";
import { unifiedDiff } from "./file-diff";
import { rewriteFstab } from "./fstab";
import { KERNEL_CONSOLE, renderGrubCfg, rewriteDefaultGrub } from "./grub-config";
import { addInitramfsModules, IFUPDOWN_DHCP, NETPLAN_DHCP, NETWORKD_DHCP, VERIFY_SCRIPT, VERIFY_SCRIPT_PATH, VERIFY_UNIT, VERIFY_UNIT_NAME } from "./guest-config";
import { listInitramfs, virtioIn } from "./initramfs";
import { networkOf, parseOsRelease } from "./inventory";
import { lvDevicePath, lvmLayout } from "./lvm";

type Exec = Parameters<Parameters<typeof withChroot>[1]>[0];

/** Files changed by one step, tracked so the step's diff can be produced. */
class Changes {
  private readonly before = new Map<string, string | null>();
  constructor(private readonly root: string) {}
  read(path: string): string | null {
    try {
      return readFileSync(join(this.root, path), "utf8");
    } catch {
      return null;
    }
  }
  write(path: string, text: string, mode?: number): void {
    if (!this.before.has(path)) this.before.set(path, this.read(path));
    mkdirSync(dirname(join(this.root, path)), { recursive: true });
    writeFileSync(join(this.root, path), text);
    if (mode !== undefined) chmodSync(join(this.root, path), mode);
  }
  remove(path: string): void {
    if (!existsSync(join(this.root, path))) return;
    if (!this.before.has(path)) this.before.set(path, this.read(path));
    rmSync(join(this.root, path), { force: true });
  }
  readonly notes: string[] = [];
  note(text: string): void {
    this.notes.push(text);
  }
  async diff(): Promise<string> {
    const parts: string[] = [];
    for (const [path, old] of this.before) parts.push(await unifiedDiff(path, old, this.read(path)));
    return parts.join("");
  }
}

function partitionFor(plan: TargetPlan, mountPoint: string) {
  const system = plan.disks.find((d) => d.key === "system");
  return system?.partitions.find((p) => p.mountPoint === mountPoint);
}

function bootKernels(root: string): { version: string; image: string; initrd: string | null }[] {
  const files = readdirSync(join(root, "boot"));
  return files
    .filter((f) => f.startsWith("vmlinuz-"))
    .map((f) => {
      const version = f.slice("vmlinuz-".length);
      const initrd = [`initrd.img-${version}`, `initramfs-${version}.img`].find((n) => files.includes(n)) ?? null;
      return { version, image: f, initrd };
    });
}

function grubModulesDir(root: string, target: "i386-pc" | "x86_64-efi"): string {
  const dir = join(root, "usr/lib/grub", target);
  if (!existsSync(dir)) {
    throw new HoistError("Convert.BootloaderFailed", `The migrated system has no GRUB for ${target} (usr/lib/grub/${target}).`, {
      fix: `Install ${target === "i386-pc" ? "grub-pc-bin" : "grub-efi-amd64-bin"} on the source and sync again, or choose the other boot mode.`,
    });
  }
  return dir;
}

const COMMON_MODULES = ["ext2", "xfs", "fat", "part_msdos", "part_gpt", "search", "search_fs_uuid", "normal", "linux", "configfile", "serial", "terminal", "echo", "test", "gzio", "minicmd"];

async function installBootloader(job: JobTargets, root: string, exec: Exec, changes: Changes): Promise<string> {
  const plan = job.plan;
  const rootPart = partitionFor(plan, "/");
  const bootPart = partitionFor(plan, "/boot") ?? rootPart;
  if (!rootPart?.uuid || !bootPart?.uuid) throw new HoistError("Convert.BootloaderFailed", "The plan has no root filesystem UUID.");
  const separateBoot = bootPart !== rootPart;
  const prefix = separateBoot ? "/grub" : "/boot/grub";
  const target = plan.bootMode === "uefi" ? "x86_64-efi" : "i386-pc";
  const modDir = grubModulesDir(root, target);
  // GRUB loads further modules from /boot/grub/<platform> at run time; they must match the core image, so both come from the guest.
  cpSync(modDir, join(root, "boot/grub", target), { recursive: true });
  changes.write("/boot/grub/hoist-early.cfg", `search.fs_uuid ${bootPart.uuid} root\nset prefix=($root)${prefix}\n`);
  const mkimageArgs = ["-d", `/usr/lib/grub/${target}`, "-O", target, "-c", "/boot/grub/hoist-early.cfg", "-p", prefix];
  const guestHasMkimage = existsSync(join(root, "usr/bin/grub-mkimage"));
  if (!guestHasMkimage) throw new HoistError("Convert.BootloaderFailed", "The migrated system has no grub-mkimage (grub-common).", { fix: "Install grub-common on the source and sync again." });
  let detail: string;
  if (target === "i386-pc") {
    await exec("grub-mkimage", [...mkimageArgs, "-o", "/boot/grub/hoist-core.img", "biosdisk", ...COMMON_MODULES], { code: "Convert.BootloaderFailed" });
    const core = readFileSync(join(root, "boot/grub/hoist-core.img"));
    const bootImg = readFileSync(join(modDir, "boot.img"));
    if (core.length > 2047 * 512) throw new HoistError("Convert.BootloaderFailed", `GRUB's core image is ${core.length} bytes, more than the 1 MiB gap before the first partition.`);
    const system = job.plan.disks.find((d) => d.key === "system");
    const raw = join(job.jobDir, "disks", `${system?.key ?? "system"}.raw`);
    const fh = await open(raw, "r+");
    try {
      // Only the boot code: bytes 440–511 hold the disk signature and the partition table sfdisk wrote.
      await fh.write(bootImg, 0, 440, 0);
      await fh.write(core, 0, core.length, 512);
    } finally {
      await fh.close();
    }
    rmSync(join(root, "boot/grub/hoist-core.img"), { force: true });
    detail = `GRUB for BIOS: boot.img in the MBR, core.img (${core.length} bytes) from sector 1, finding /boot by UUID ${bootPart.uuid}`;
  } else {
    const staged = "/boot/grub/hoist-bootx64.efi";
    await exec("grub-mkimage", [...mkimageArgs, "-o", staged, "efi_gop", "efi_uga", "all_video", ...COMMON_MODULES], { code: "Convert.BootloaderFailed" });
    const efiDir = join(root, "boot/efi");
    if (await isMounted(efiDir)) {
      mkdirSync(join(efiDir, "EFI/BOOT"), { recursive: true });
      cpSync(join(root, staged), join(efiDir, "EFI/BOOT/BOOTX64.EFI"));
    } else {
      const esp = partitionFor(plan, "/boot/efi");
      const device = esp ? partitionDevice(job.jobDir, "system", esp.key) : null;
      if (!device) throw new HoistError("Convert.BootloaderFailed", "The EFI system partition is not attached.", { fix: "Prepare the job's disks again, then convert." });
      const moved = await fatAbsorb(device, efiDir);
      await fatPut(device, join(root, staged), "/EFI/BOOT/BOOTX64.EFI");
      if (moved.length > 0) changes.note(`moved ${moved.join(", ")} from the root filesystem's /boot/efi onto the ESP`);
    }
    rmSync(join(root, staged), { force: true });
    const efiPath = "/boot/efi/EFI/BOOT/BOOTX64.EFI";
    detail = `GRUB for UEFI at the removable-media path ${efiPath}, finding /boot by UUID ${bootPart.uuid}`;
  }
  const osName = parseOsRelease(changes.read("/etc/os-release") ?? changes.read("/usr/lib/os-release") ?? "").prettyName;
  const kernels = bootKernels(root);
  if (kernels.length === 0) throw new HoistError("Convert.BootloaderFailed", "The migrated system has no kernel in /boot (vmlinuz-*).", { fix: "Check that /boot was copied; install a kernel on the source." });
  const rootDevice = lvDevicePath(plan, "/");
  changes.write("/boot/grub/grub.cfg", renderGrubCfg({ osName, bootUuid: bootPart.uuid, rootUuid: rootPart.uuid, separateBoot, kernels, ...(rootDevice ? { rootDevice } : {}) }));
  const defaults = changes.read("/etc/default/grub");
  const cmdline = /^GRUB_CMDLINE_LINUX="([^"]*)"/m.exec(defaults ?? "")?.[1] ?? "";
  const kept = cmdline.split(/\s+/).filter((a) => a && !/^(console|net\.ifnames|root|resume)=/.test(a));
  changes.write(
    "/etc/default/grub",
    rewriteDefaultGrub(defaults ?? "", {
      GRUB_CMDLINE_LINUX: [...kept, "net.ifnames=0", KERNEL_CONSOLE].join(" "),
      GRUB_TERMINAL: "serial console",
      GRUB_SERIAL_COMMAND: "serial --unit=0 --speed=115200",
    }),
  );
  return detail;
}

/** Where each LV-backed mount point went, for the conversion report. */
function lvmSummary(plan: TargetPlan): string {
  return plan.disks.flatMap((d) => {
    const layout = lvmLayout(d);
    return layout.lvs.map((lv) => `${lv.part.mountPoint} on ${layout.vg}/${lv.name}`);
  }).join(", ");
}

/**
 * Whether every boot kernel's initramfs-tools image already has the virtio
 * drivers the new hypervisor needs and nothing in it points at the source's
 * old disks (a resume device). initramfs-tools takes the root from the kernel
 * command line, so such an image boots the migrated disks as it is.
 */
async function initramfsAlreadyFits(root: string, plan: TargetPlan, kernels: ReturnType<typeof bootKernels>): Promise<string | null> {
  if (plan.lvm || kernels.length === 0) return null;
  const resume = existsSync(join(root, "etc/initramfs-tools/conf.d/resume")) ? readFileSync(join(root, "etc/initramfs-tools/conf.d/resume"), "utf8") : "";
  if (/^\s*RESUME=(?!none\s*$)\S/m.test(resume)) return null;
  for (const k of kernels) {
    if (!k.initrd) return null;
    const v = virtioIn(await listInitramfs(join(root, "boot", k.initrd)).catch(() => []));
    if (!v.virtio_blk || !v.virtio_net || !v.virtio_scsi) return null;
  }
  return `kept the initramfs of ${kernels.map((k) => k.version).join(", ")}: it already has virtio_blk, virtio_net and virtio_scsi (the modules list is updated for later rebuilds)`;
}

async function regenerateInitramfs(root: string, plan: TargetPlan, exec: Exec, changes: Changes): Promise<string> {
  if (plan.lvm && !existsSync(join(root, "sbin/lvm")) && !existsSync(join(root, "usr/sbin/lvm"))) {
    throw new HoistError("Convert.InitramfsFailed", "The disks were laid out on LVM, but the migrated system has no lvm2 to activate them at boot.", {
      fix: "Install lvm2 on the source and sync again, or migrate without LVM.",
    });
  }
  const kernels = bootKernels(root);
  if (existsSync(join(root, "usr/sbin/update-initramfs"))) {
    changes.write("/etc/initramfs-tools/modules", addInitramfsModules(changes.read("/etc/initramfs-tools/modules") ?? ""));
    const kept = await initramfsAlreadyFits(root, plan, kernels);
    // Rebuilding is most of a conversion's time; an initramfs that already reaches virtio disks and NICs is kept.
    if (kept) return kept;
    for (const k of kernels) await exec("update-initramfs", [k.initrd ? "-u" : "-c", "-k", k.version], { code: "Convert.InitramfsFailed" });
  } else if (existsSync(join(root, "usr/bin/dracut")) || existsSync(join(root, "usr/sbin/dracut"))) {
    changes.write("/etc/dracut.conf.d/90-hoist-virtio.conf", 'add_drivers+=" virtio_blk virtio_pci virtio_net virtio_scsi "\n');
    for (const k of kernels) await exec("dracut", ["--force", "--kver", k.version], { code: "Convert.InitramfsFailed" });
  } else {
    throw new HoistError("Convert.InitramfsFailed", "The migrated system has neither update-initramfs nor dracut.", { fix: "Install initramfs-tools or dracut on the source and sync again." });
  }
  const after = bootKernels(root);
  const missing: string[] = [];
  for (const k of after) {
    if (!k.initrd) {
      missing.push(`${k.version}: no initramfs`);
      continue;
    }
    const names = await listInitramfs(join(root, "boot", k.initrd));
    const v = virtioIn(names);
    if (!v.virtio_blk) missing.push(`${k.version}: no virtio_blk`);
    if (plan.lvm && !names.some((n) => /(^|\/)s?bin\/lvm$/.test(n))) missing.push(`${k.version}: no lvm to activate the root volume group`);
  }
  if (missing.length > 0) throw new HoistError("Convert.InitramfsFailed", `The regenerated initramfs cannot reach a virtio disk (${missing.join("; ")}).`, { fix: "Check that the kernel's modules package is complete on the source." });
  return `regenerated for ${after.map((k) => k.version).join(", ")} with virtio drivers${plan.lvm ? " and lvm2, which activates the root volume group" : ""}`;
}

function configureNetwork(root: string, changes: Changes): string {
  const kind = networkOf(root);
  if (kind === "ifupdown") changes.write("/etc/network/interfaces", IFUPDOWN_DHCP);
  else if (kind === "netplan") changes.write("/etc/netplan/90-hoist-dhcp.yaml", NETPLAN_DHCP);
  else {
    changes.write("/etc/systemd/network/80-hoist-dhcp.network", NETWORKD_DHCP);
    enableUnit(root, "multi-user.target", "systemd-networkd.service", "/lib/systemd/system/systemd-networkd.service");
  }
  return `DHCP through ${kind === "unknown" || kind === "NetworkManager" ? "systemd-networkd" : kind}`;
}

function enableUnit(root: string, wantedBy: string, name: string, target: string): void {
  const dir = join(root, "etc/systemd/system", `${wantedBy}.wants`);
  mkdirSync(dir, { recursive: true });
  const link = join(dir, name);
  rmSync(link, { force: true });
  symlinkSync(target, link);
}

/** Converts the copied system on the job's mounted disks. It reads the copy itself, not the inventory: what was copied is what has to boot. */
export async function convertTarget(job: JobTargets, log: Logger): Promise<ConversionReport> {
  const root = diskMountPath(job.jobDir, "system");
  if (!existsSync(join(root, "etc"))) throw new HoistError("Convert.NotPrepared", `${root} holds no copied system (no etc/).`, { fix: "Prepare the disks and copy the source before converting." });
  const report: ConversionReport = { bootMode: job.plan.bootMode, steps: [] };
  const save = (): void => writeFileSync(join(job.jobDir, "conversion-report.json"), `${JSON.stringify(report, null, 2)}\n`);
  await withChroot(root, async (exec) => {
    const step = async (name: string, body: (c: Changes) => Promise<string | undefined> | string | undefined): Promise<void> => {
      const changes = new Changes(root);
      log.info("convert step", { step: name });
      try {
        const detail = await body(changes);
        const diff = await changes.diff();
        const entry: ConversionStep = { name, ok: true };
        if (diff) entry.diff = diff;
        const notes = [detail, ...changes.notes].filter(Boolean).join("; ");
        if (notes) entry.detail = notes;
        report.steps.push(entry);
        save();
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        const diff = await changes.diff().catch(() => "");
        report.steps.push({ name, ok: false, error: message, ...(diff ? { diff } : {}) });
        save();
        const code = `Convert.${name.replace(/(^|-)(\w)/g, (_m, _d, ch: string) => ch.toUpperCase())}Failed`;
        throw new HoistError(code, `Conversion step "${name}" failed: ${message}`, { fix: (e as HoistError).fix ?? "See the conversion report in the job folder.", details: { report } });
      }
    };
    await step("fstab", (c) => {
      c.write("/etc/fstab", rewriteFstab(c.read("/etc/fstab") ?? "", job.plan));
      // Filesystem UUIDs are the same whether the filesystem sits on a partition or an LV, so fstab needs no LVM paths.
      return job.plan.lvm ? `by filesystem UUID; LVM: ${lvmSummary(job.plan)}` : undefined;
    });
    await step("persistent-net", (c) => {
      for (const f of ["/etc/udev/rules.d/70-persistent-net.rules", "/etc/udev/rules.d/75-persistent-net-generator.rules"]) c.remove(f);
      return undefined;
    });
    await step("network", (c) => configureNetwork(root, c));
    await step("serial-console", () => {
      enableUnit(root, "getty.target", "serial-getty@ttyS0.service", "/lib/systemd/system/serial-getty@.service");
      return "serial-getty@ttyS0 enabled";
    });
    await step("verify-unit", (c) => {
      c.write(VERIFY_SCRIPT_PATH, VERIFY_SCRIPT, 0o755);
      c.write(`/etc/systemd/system/${VERIFY_UNIT_NAME}`, VERIFY_UNIT);
      enableUnit(root, "multi-user.target", VERIFY_UNIT_NAME, `/etc/systemd/system/${VERIFY_UNIT_NAME}`);
      return `${VERIFY_UNIT_NAME} reports mounts on ttyS0 after multi-user`;
    });
    await step("initramfs", (c) => regenerateInitramfs(root, job.plan, exec, c));
    await step("bootloader", (c) => installBootloader(job, root, exec, c));
  });
  return report;
}

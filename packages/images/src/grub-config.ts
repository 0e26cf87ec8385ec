// grub.cfg for the migrated system. We write it ourselves instead of running
// the guest's grub-mkconfig: inside a chroot on loop devices grub-probe sees
// the intermediate instance's devices and would bake loop paths (or no UUID)
// into the menu. A short, explicit config that finds /boot by UUID and passes
// root=UUID=… boots the same on any hypervisor.

export const KERNEL_CONSOLE = "console=tty0 console=ttyS0,115200";

export interface GrubKernel {
  version: string;
  /** File names in /boot. */
  image: string;
  initrd: string | null;
}

export interface GrubConfigInput {
  osName: string;
  /** UUID of the filesystem holding /boot (the root filesystem when /boot is not separate). */
  bootUuid: string;
  rootUuid: string;
  /** root= as a device path instead of UUID=rootUuid, for a root on LVM: the initramfs activates the LV that root= names. */
  rootDevice?: string;
  /** True when /boot is its own filesystem, so kernel paths have no /boot prefix. */
  separateBoot: boolean;
  kernels: GrubKernel[];
  /** Extra kernel arguments kept from the source. */
  extraArgs?: string[];
}

/** Newest first, comparing version numbers numerically (6.1.0-18 after 6.1.0-9). */
export function sortKernels<T extends { version: string }>(kernels: T[]): T[] {
  return [...kernels].sort((a, b) => b.version.localeCompare(a.version, "en", { numeric: true }));
}

export function kernelArgs(rootUuid: string, extra: string[] = [], rootDevice?: string): string {
  // net.ifnames=0 names the new NIC eth0 whatever PCI slot the hypervisor puts it in, so the DHCP config matches it.
  const dropped = /^(root|console|net\.ifnames|resume)=/;
  return [rootDevice ? `root=${rootDevice}` : `root=UUID=${rootUuid}`, "ro", ...extra.filter((a) => !dropped.test(a)), "net.ifnames=0", KERNEL_CONSOLE].join(" ");
}

export function renderGrubCfg(input: GrubConfigInput): string {
  const dir = input.separateBoot ? "" : "/boot";
  const args = kernelArgs(input.rootUuid, input.extraArgs, input.rootDevice);
  const entries = sortKernels(input.kernels).map((k) =>
    [
      `menuentry '${input.osName.replace(/'/g, "")}, Linux ${k.version}' --id 'linux-${k.version}' {`,
      "\tinsmod gzio",
      `\tsearch --no-floppy --fs-uuid --set=root ${input.bootUuid}`,
      `\tlinux ${dir}/${k.image} ${args}`,
      ...(k.initrd ? [`\tinitrd ${dir}/${k.initrd}`] : []),
      "}",
    ].join("\n"),
  );
  return [
    "# Boots the migrated system by filesystem UUID, with its console on the first serial port and the screen.",
    "serial --unit=0 --speed=115200",
    "terminal_input serial console",
    "terminal_output serial console",
    "insmod part_msdos",
    "insmod part_gpt",
    "insmod ext2",
    "insmod xfs",
    "insmod fat",
    `search --no-floppy --fs-uuid --set=root ${input.bootUuid}`,
    "set default=0",
    "set timeout=2",
    "",
    ...entries,
    "",
  ].join("\n");
}

/** Sets (or adds) KEY="value" lines in /etc/default/grub so a later update-grub inside the guest keeps the console and NIC naming. */
export function rewriteDefaultGrub(oldText: string, values: Record<string, string>): string {
  const lines = oldText.split("\n");
  const done = new Set<string>();
  const out = lines.map((line) => {
    const m = /^([A-Z_]+)=/.exec(line);
    const key = m?.[1];
    if (key && key in values && !done.has(key)) {
      done.add(key);
      return `${key}="${values[key]}"`;
    }
    return line;
  });
  while (out.length > 0 && out[out.length - 1] === "") out.pop();
  for (const [k, v] of Object.entries(values)) if (!done.has(k)) out.push(`${k}="${v}"`);
  return `${out.join("\n")}\n`;
}

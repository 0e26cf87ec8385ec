import { describe, expect, it } from "vitest";
import { kernelArgs, renderGrubCfg, rewriteDefaultGrub, sortKernels } from "./grub-config";

describe("grub.cfg", () => {
  const cfg = renderGrubCfg({
    osName: "Debian GNU/Linux 12 (bookworm)",
    bootUuid: "b00t-uuid",
    rootUuid: "r00t-uuid",
    separateBoot: false,
    kernels: [
      { version: "6.1.0-9-amd64", image: "vmlinuz-6.1.0-9-amd64", initrd: "initrd.img-6.1.0-9-amd64" },
      { version: "6.1.0-18-amd64", image: "vmlinuz-6.1.0-18-amd64", initrd: "initrd.img-6.1.0-18-amd64" },
    ],
  });

  it("boots the newest kernel first with root by UUID and both consoles", () => {
    const first = cfg.indexOf("menuentry");
    expect(cfg.slice(first)).toMatch(/^menuentry '[^']+6\.1\.0-18-amd64'/);
    expect(cfg).toContain("linux /boot/vmlinuz-6.1.0-18-amd64 root=UUID=r00t-uuid ro net.ifnames=0 console=tty0 console=ttyS0,115200");
    expect(cfg).toContain("initrd /boot/initrd.img-6.1.0-18-amd64");
    expect(cfg).toContain("search --no-floppy --fs-uuid --set=root b00t-uuid");
    expect(cfg).toContain("serial --unit=0 --speed=115200");
  });

  it("drops the /boot prefix when /boot is its own filesystem", () => {
    const sep = renderGrubCfg({ osName: "x", bootUuid: "b", rootUuid: "r", separateBoot: true, kernels: [{ version: "1", image: "vmlinuz-1", initrd: null }] });
    expect(sep).toContain("linux /vmlinuz-1 root=UUID=r");
    expect(sep).not.toContain("initrd");
  });

  it("replaces the source's root, console and resume arguments and keeps the rest", () => {
    expect(kernelArgs("u", ["root=/dev/sda1", "quiet", "console=tty1", "resume=UUID=x", "crashkernel=auto"])).toBe("root=UUID=u ro quiet crashkernel=auto net.ifnames=0 console=tty0 console=ttyS0,115200");
  });

  it("names a root on LVM by its device-mapper path, so the initramfs activates that LV", () => {
    const lvm = renderGrubCfg({ osName: "x", bootUuid: "b", rootUuid: "r", rootDevice: "/dev/mapper/vg0-lv1", separateBoot: true, kernels: [{ version: "1", image: "vmlinuz-1", initrd: "initrd.img-1" }] });
    expect(lvm).toContain("linux /vmlinuz-1 root=/dev/mapper/vg0-lv1 ro");
    expect(lvm).not.toContain("root=UUID=r");
    expect(lvm).toContain("search --no-floppy --fs-uuid --set=root b");
  });

  it("sorts kernel versions numerically", () => {
    expect(sortKernels([{ version: "5.10.0-9" }, { version: "5.10.0-10" }, { version: "6.1.0-1" }]).map((k) => k.version)).toEqual(["6.1.0-1", "5.10.0-10", "5.10.0-9"]);
  });

  it("sets /etc/default/grub values in place or appends them", () => {
    const out = rewriteDefaultGrub('GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX="quiet"\n', { GRUB_CMDLINE_LINUX: "console=ttyS0", GRUB_TERMINAL: "serial console" });
    expect(out).toBe('GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX="console=ttyS0"\nGRUB_TERMINAL="serial console"\n');
  });
});

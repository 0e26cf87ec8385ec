import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SourceInventorySchema } from "@hoist/protocol";
import { afterAll, describe, expect, it } from "vitest";
import { listInitramfs, virtioIn } from "./initramfs";
import { collectInventory, parseOsRelease } from "./inventory";
import { run } from "@hoist/runtime";

const work = mkdtempSync(join(tmpdir(), "hoist-inventory-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function cpio(dir: string, names: string[], out: string): Promise<void> {
  await run("cpio", ["-o", "-H", "newc", "-F", out], { cwd: dir, input: `${names.join("\n")}\n` });
}

describe("inventory of a root tree", () => {
  it("reads the OS, kernels, virtio drivers in a microcode+zstd initramfs, GRUB and the network stack", async () => {
    const root = join(work, "root");
    const kmod = "usr/lib/modules/6.1.0-9-amd64/kernel/drivers/block";
    for (const d of ["etc/network", "boot", "usr/lib/grub/i386-pc", "usr/lib/grub/x86_64-efi"]) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, "etc/os-release"), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n');
    writeFileSync(join(root, "etc/network/interfaces"), "source /etc/network/interfaces.d/*\n");
    writeFileSync(join(root, "boot/vmlinuz-6.1.0-9-amd64"), "kernel");
    // Like Debian's: an uncompressed early archive followed by the compressed main one.
    const early = join(work, "early");
    mkdirSync(join(early, "kernel/x86/microcode"), { recursive: true });
    writeFileSync(join(early, "kernel/x86/microcode/GenuineIntel.bin"), "ucode");
    await cpio(early, ["kernel", "kernel/x86", "kernel/x86/microcode", "kernel/x86/microcode/GenuineIntel.bin"], join(work, "early.cpio"));
    const main = join(work, "main");
    mkdirSync(join(main, kmod), { recursive: true });
    writeFileSync(join(main, kmod, "virtio_blk.ko"), "m");
    writeFileSync(join(main, "init"), "#!/bin/sh\n");
    await cpio(main, ["init", `${kmod}/virtio_blk.ko`], join(work, "main.cpio"));
    await run("zstd", ["-q", "-f", join(work, "main.cpio"), "-o", join(work, "main.cpio.zst")]);
    const { readFileSync } = await import("node:fs");
    writeFileSync(join(root, "boot/initrd.img-6.1.0-9-amd64"), Buffer.concat([readFileSync(join(work, "early.cpio")), readFileSync(join(work, "main.cpio.zst"))]));

    const names = await listInitramfs(join(root, "boot/initrd.img-6.1.0-9-amd64"));
    expect(names).toContain("kernel/x86/microcode/GenuineIntel.bin");
    expect(names).toContain(`${kmod}/virtio_blk.ko`);
    expect(virtioIn(names)).toEqual({ virtio_blk: true, virtio_net: false, virtio_scsi: false });

    const inv = await collectInventory(root, { bootMode: "uefi" });
    expect(SourceInventorySchema.parse(JSON.parse(JSON.stringify(inv)))).toEqual(inv);
    expect(inv.os).toMatchObject({ id: "debian", versionId: "12" });
    expect(inv.bootMode).toBe("uefi");
    expect(inv.canBoot).toEqual({ bios: true, uefi: true });
    expect(inv.network).toBe("ifupdown");
    expect(inv.kernels).toEqual([{ version: "6.1.0-9-amd64", image: "/boot/vmlinuz-6.1.0-9-amd64", initramfs: "/boot/initrd.img-6.1.0-9-amd64", virtio: { virtio_blk: true, virtio_net: false, virtio_scsi: false } }]);
    expect(inv.usedBytes).toBeGreaterThan(0);
  });

  it("refuses a folder that is not a root tree and a boot mode the tree cannot do", async () => {
    await expect(collectInventory(join(work, "nothing-here"))).rejects.toMatchObject({ code: "Inventory.SourceMissing" });
    mkdirSync(join(work, "empty"));
    await expect(collectInventory(join(work, "empty"))).rejects.toMatchObject({ code: "Inventory.NotARootTree" });
    // A tree without any GRUB is told so, not that it lacks the UEFI one.
    mkdirSync(join(work, "nogrub/etc"), { recursive: true });
    writeFileSync(join(work, "nogrub/etc/os-release"), "ID=debian\n");
    await expect(collectInventory(join(work, "nogrub"))).rejects.toMatchObject({ code: "Inventory.NoGrub", message: expect.stringContaining("no GRUB at all") });
    mkdirSync(join(work, "biosonly/etc"), { recursive: true });
    mkdirSync(join(work, "biosonly/usr/lib/grub/i386-pc"), { recursive: true });
    writeFileSync(join(work, "biosonly/etc/os-release"), "ID=debian\n");
    await expect(collectInventory(join(work, "biosonly"), { bootMode: "uefi" })).rejects.toMatchObject({ code: "Inventory.BootModeUnsupported" });
    // A data disk's src_path that is not there is named as such, not as a measurement that failed.
    const missing = join(work, "biosonly/mnt/disk9");
    await expect(collectInventory(join(work, "biosonly"), { bootMode: "bios", paths: [missing] })).rejects.toMatchObject({
      code: "Inventory.SourcePathMissing",
      message: expect.stringContaining(`${missing} (its src_path) does not exist`),
    });
  });

  it("parses os-release quoting", () => {
    expect(parseOsRelease('NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n')).toEqual({ id: "ubuntu", versionId: "22.04", prettyName: "Ubuntu", idLike: ["debian"] });
  });
});

describe("inventory of the running machine", () => {
  it("produces a schema-valid document from lsblk, findmnt and statfs", async () => {
    const inv = await collectInventory("/", { skipInitramfs: true });
    expect(SourceInventorySchema.safeParse(inv).success).toBe(true);
    expect(inv.mounts.some((m) => m.mountPoint === "/")).toBe(true);
    expect(inv.usedBytes).toBeGreaterThan(0);
  });
});

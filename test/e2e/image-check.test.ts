// The static image check against one good image and copies of it broken on
// purpose, each the way real migrations go wrong: an fstab UUID that is not
// there, grub.cfg naming a kernel that is not there, an initramfs without
// virtio drivers, no DHCP configuration.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkImage, collectInventory, createImage, exportImage, listImages, makePlan, readManifest } from "@hoist/images";
import type { ConversionReport, SourceInventory, TargetPlan } from "@hoist/protocol";
import { run, silentLogger } from "@hoist/runtime";
import { beforeAll, describe, expect, it } from "vitest";
import { imageWorkspace } from "../helpers/image-workspace";
import { smallLinuxRoot } from "../helpers/small-linux";

const HOIST = join(import.meta.dirname, "../../apps/hoist/bin/hoist");

describe("hoist image check", () => {
  let plan: TargetPlan | undefined;
  const { work, jobDir, store, backend } = imageWorkspace("hoist-image-check-", () => plan);
  let inventory: SourceInventory;

  beforeAll(async () => {
    mkdirSync(join(work, "src/data"), { recursive: true });
    writeFileSync(join(work, "src/data/file.txt"), "data\n");
    // A small root converts like the whole Debian tree and keeps the four exports of the image small.
    const root = await smallLinuxRoot(join(work, "root"));
    inventory = await collectInventory(root, { bootMode: "bios", skipInitramfs: true });
    plan = makePlan(inventory, { systemDiskGiB: 20, dataDisks: [{ index: 1, sizeGiB: 1, srcPath: "/srv/data", usedBytes: 4096 }] });
    const job = { jobDir, plan };
    const disks = await backend.prepare(job, silentLogger);
    await run("rsync", ["-aHAXS", "--numeric-ids", `${root}/`, `${disks[0]?.mountPath}/`]);
    await run("rsync", ["-aHAXS", "--numeric-ids", `${join(work, "src/data")}/`, `${disks[1]?.mountPath}/`]);
    const report = (await backend.convert(job, inventory, silentLogger)) as ConversionReport;
    await createImage(store, "good", await backend.detach(job, silentLogger), { plan, inventory, conversion: report });
  });

  /** A copy of the good image with its system root filesystem edited. */
  async function brokenCopy(name: string, edit: (root: string) => Promise<void> | void): Promise<void> {
    if (!plan) throw new Error("no plan");
    const dir = join(work, "export", name);
    mkdirSync(dir, { recursive: true });
    const files = await exportImage(store, "good", "raw", join(dir, "system.raw"));
    expect(files).toEqual([join(dir, "system.raw"), join(dir, "system-disk1.raw")]);
    const table = JSON.parse((await run("sfdisk", ["-J", join(dir, "system.raw")])).stdout) as { partitiontable: { partitions: { start: number; size: number }[] } };
    const p = table.partitiontable.partitions[0];
    if (!p) throw new Error("no partition");
    const loop = (await run("losetup", ["--find", "--show", "--offset", String(p.start * 512), "--sizelimit", String(p.size * 512), join(dir, "system.raw")])).stdout.trim();
    const mnt = join(dir, "mnt");
    mkdirSync(mnt);
    try {
      await run("mount", [loop, mnt]);
      try {
        await edit(mnt);
      } finally {
        await run("umount", [mnt]);
      }
    } finally {
      await run("losetup", ["-d", loop]);
    }
    const disks = [
      { key: "system", rawPath: join(dir, "system.raw"), sizeBytes: 20 * 1024 ** 3, mountPath: mnt },
      { key: "disk1", rawPath: join(dir, "system-disk1.raw"), sizeBytes: 1024 ** 3, mountPath: mnt },
    ];
    await createImage(store, name, disks, { plan, inventory, conversion: null });
    rmSync(dir, { recursive: true, force: true });
  }

  it("finds nothing critical in the good image", async () => {
    const findings = await checkImage(store, "good");
    expect(findings.filter((f) => f.severity === "Critical")).toEqual([]);
  });

  it("reports an fstab entry whose UUID no filesystem has", async () => {
    await brokenCopy("bad-fstab", (root) => {
      const fstab = readFileSync(join(root, "etc/fstab"), "utf8");
      writeFileSync(join(root, "etc/fstab"), `${fstab}UUID=0badbeef-0000-4000-8000-000000000000 /srv/old ext4 defaults 0 2\n`);
    });
    const findings = await checkImage(store, "bad-fstab");
    expect(findings).toContainEqual(expect.objectContaining({ severity: "Critical", code: "Image.FstabUnknownUuid", message: expect.stringContaining("/srv/old") }));
  });

  it("reports grub.cfg loading a kernel that is not in the image", async () => {
    await brokenCopy("bad-grub", (root) => {
      const cfg = readFileSync(join(root, "boot/grub/grub.cfg"), "utf8");
      expect(cfg).toMatch(/vmlinuz-\S+/);
      writeFileSync(join(root, "boot/grub/grub.cfg"), cfg.replace(/vmlinuz-\S+/g, "vmlinuz-9.9.9-gone"));
    });
    const findings = await checkImage(store, "bad-grub");
    expect(findings).toContainEqual(expect.objectContaining({ severity: "Critical", code: "Image.GrubKernelMissing", message: expect.stringContaining("/boot/vmlinuz-9.9.9-gone") }));
  });

  it("reports an initramfs without virtio drivers", async () => {
    await brokenCopy("bad-initramfs", async (root) => {
      // A real (zstd-compressed newc) initramfs that simply lacks the kernel modules.
      const tree = join(work, "tiny-initramfs");
      mkdirSync(join(tree, "scripts"), { recursive: true });
      writeFileSync(join(tree, "init"), "#!/bin/sh\nexec /bin/sh\n");
      writeFileSync(join(tree, "scripts/local"), "\n");
      await run("cpio", ["-o", "-H", "newc", "-F", join(work, "tiny.cpio")], { cwd: tree, input: "init\nscripts\nscripts/local\n" });
      const initrd = readdirSync(join(root, "boot")).find((f) => f.startsWith("initrd.img-"));
      if (!initrd) throw new Error("no initrd");
      await run("zstd", ["-q", "-f", join(work, "tiny.cpio"), "-o", join(root, "boot", initrd)]);
    });
    const findings = await checkImage(store, "bad-initramfs");
    expect(findings).toContainEqual(expect.objectContaining({ severity: "Critical", code: "Image.NoVirtioInitramfs" }));
    expect(findings.filter((f) => f.severity === "Critical").map((f) => f.code)).toEqual(["Image.NoVirtioInitramfs"]);
  });

  it("reports a system without any DHCP network configuration", async () => {
    await brokenCopy("bad-network", (root) => {
      writeFileSync(join(root, "etc/network/interfaces"), "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n  address 192.0.2.10/24\n");
    });
    const findings = await checkImage(store, "bad-network");
    expect(findings.filter((f) => f.severity === "Critical").map((f) => f.code)).toEqual(["Image.NoDhcpNetwork"]);
  });

  it("keeps the store consistent: every image listed, the good one still unverified and untouched", () => {
    expect(listImages(store).map((m) => m.name).sort()).toEqual(["bad-fstab", "bad-grub", "bad-initramfs", "bad-network", "good"]);
    expect(readManifest(store, "good").verification.status).toBe("unverified");
  });

  it("does the same through `hoist image`: list, check exit codes, export and rm", () => {
    const hoist = (...args: string[]) => spawnSync(HOIST, [...args, "--image-store", store], { encoding: "utf8" });

    const list = hoist("image", "list", "--json");
    expect(list.status).toBe(0);
    expect((JSON.parse(list.stdout) as { name: string }[]).map((m) => m.name).sort()).toEqual(["bad-fstab", "bad-grub", "bad-initramfs", "bad-network", "good"]);

    expect(hoist("image", "check", "good").status).toBe(0);
    const bad = hoist("image", "check", "bad-network", "--json");
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout)).toContainEqual(expect.objectContaining({ severity: "Critical", code: "Image.NoDhcpNetwork" }));

    const out = join(work, "exported", "good.qcow2");
    const exported = hoist("image", "export", "good", "--format", "qcow2", "--output", out);
    expect(exported.status, exported.stderr).toBe(0);
    expect(exported.stdout.trim().split("\n")).toEqual([out, join(work, "exported", "good-disk1.qcow2")]);
    const info = JSON.parse(execFileSync("qemu-img", ["info", "--output=json", out], { encoding: "utf8" })) as { format: string; "virtual-size": number };
    expect(info).toMatchObject({ format: "qcow2", "virtual-size": 20 * 1024 ** 3 });

    expect(hoist("image", "rm", "bad-fstab").status).toBe(0);
    const gone = hoist("image", "rm", "bad-fstab");
    expect(gone.status).toBe(1);
    expect(gone.stderr).toContain("Image.NotFound");
  });
});

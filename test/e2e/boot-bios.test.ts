// A Debian 12 source with two data folders becomes a BIOS/MBR image with a
// system disk smaller than the source's (shrink) and two data disks, through
// the image library's stages one by one: a restarted receiver's prepare finds
// the same disks, conversion writes fstab by UUID and GRUB, the image cannot
// be made twice under one name, and the static check finds nothing critical.
// The boot of such an image (BIOS, two data disks) is migrate-debian's.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkImage, collectInventory, createImage, makePlan, readManifest } from "@hoist/images";
import type { TargetPlan } from "@hoist/protocol";
import { run, silentLogger } from "@hoist/runtime";
import { beforeAll, describe, expect, it } from "vitest";
import { imageWorkspace } from "../helpers/image-workspace";
import { smallLinuxRoot } from "../helpers/small-linux";

const GiB = 1024 ** 3;

describe("BIOS image from a Debian tree, shrunk, with two data disks", () => {
  let plan: TargetPlan;
  const { work, jobDir, store, backend } = imageWorkspace("hoist-boot-bios-", () => plan);

  beforeAll(() => {
    for (const [dir, files] of [
      ["disk1", { "hello.txt": "data disk one\n", "nested/deep/file.bin": "x".repeat(100_000) }],
      ["disk2", { "readme.md": "data disk two\n" }],
    ] as const) {
      for (const [rel, body] of Object.entries(files)) {
        const p = join(work, "src", dir, rel);
        mkdirSync(join(p, ".."), { recursive: true });
        writeFileSync(p, body);
      }
    }
  });

  it("plans, prepares, copies, converts, images and checks", async () => {
    // A small root converts like the whole Debian tree (see test/helpers/small-linux.ts).
    const root = await smallLinuxRoot(join(work, "root"));
    const inventory = await collectInventory(root, { bootMode: "bios", paths: [join(work, "src/disk1"), join(work, "src/disk2")] });
    expect(inventory.os.id).toBe("debian");
    expect(inventory.kernels[0]?.virtio?.virtio_blk).toBe(true);
    // The source "disk" is 60 GiB with little used; the target system disk is 20 GiB.
    inventory.systemDiskBytes = 60 * GiB;
    plan = makePlan(inventory, {
      systemDiskGiB: 20,
      dataDisks: [
        { index: 1, sizeGiB: 2, srcPath: "/mnt/disk1", usedBytes: inventory.paths[0]?.usedBytes ?? 0 },
        { index: 2, sizeGiB: 1, srcPath: "/mnt/disk2", usedBytes: inventory.paths[1]?.usedBytes ?? 0 },
      ],
    });
    expect(plan.disks.map((d) => [d.key, d.table, d.sizeGiB])).toEqual([
      ["system", "mbr", 20],
      ["disk1", "mbr", 2],
      ["disk2", "mbr", 1],
    ]);

    const job = { jobDir, plan };
    const disks = await backend.prepare(job, silentLogger);
    const mnt = (key: string): string => disks.find((d) => d.key === key)?.mountPath ?? "";
    await run("rsync", ["-aHAXS", "--numeric-ids", `${root}/`, `${mnt("system")}/`]);
    await run("rsync", ["-aHAXS", "--numeric-ids", `${join(work, "src/disk1")}/`, `${mnt("disk1")}/`]);
    await run("rsync", ["-aHAXS", "--numeric-ids", `${join(work, "src/disk2")}/`, `${mnt("disk2")}/`]);

    // A second prepare (a restarted receiver) must find the same mounted disks, not new empty ones.
    const again = await backend.prepare(job, silentLogger);
    expect(again.map((d) => d.mountPath)).toEqual(disks.map((d) => d.mountPath));
    expect(readFileSync(join(mnt("disk1"), "hello.txt"), "utf8")).toBe("data disk one\n");

    const report = (await backend.convert(job, inventory, silentLogger)) as { steps: { name: string; ok: boolean; diff?: string }[] };
    expect(report.steps.every((s) => s.ok)).toBe(true);
    const fstabStep = report.steps.find((s) => s.name === "fstab");
    expect(fstabStep?.diff).toContain(`UUID=${plan.disks[1]?.partitions[0]?.uuid}`);

    await backend.detach(job, silentLogger);
    expect((await run("losetup", ["-j", join(jobDir, "disks/system.raw")])).stdout.trim()).toBe("");
    // A restarted receiver finds its disks detached: prepare must re-attach and re-mount them as they are, not format them.
    await backend.prepare(job, silentLogger);
    expect(readFileSync(join(mnt("disk1"), "hello.txt"), "utf8")).toBe("data disk one\n");
    expect(readFileSync(join(mnt("system"), "boot/grub/grub.cfg"), "utf8")).toContain(`root=UUID=${plan.disks[0]?.partitions[0]?.uuid}`);
    const detached = await backend.detach(job, silentLogger);
    const manifest = await createImage(store, "bios-debian12", detached, { plan, inventory, conversion: report as never });
    expect(manifest.disks.map((d) => d.key)).toEqual(["system", "disk1", "disk2"]);
    await expect(createImage(store, "bios-debian12", detached, { plan, inventory, conversion: null })).rejects.toMatchObject({ code: "Image.NameExists" });
    expect(readManifest(store, "bios-debian12").verification.status).toBe("unverified");

    const findings = await checkImage(store, "bios-debian12");
    expect(findings.filter((f) => f.severity === "Critical")).toEqual([]);
  });
});

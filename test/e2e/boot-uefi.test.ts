// The same Debian 12 source as a UEFI/GPT image (ESP + separate /boot + root)
// with two data disks, booted with OVMF: GRUB EFI at the removable path must
// start the system to multi-user with every filesystem mounted.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkImage, collectInventory, createImage, makePlan, readJobState, verifyImage } from "@hoist/images";
import type { ConversionReport, TargetPlan } from "@hoist/protocol";
import { run, silentLogger } from "@hoist/runtime";
import { describe, expect, it } from "vitest";
import { debianFixture } from "../helpers/debian-fixture";
import { imageWorkspace } from "../helpers/image-workspace";

describe("UEFI image from a Debian tree with two data disks", () => {
  let plan: TargetPlan | undefined;
  const { work, jobDir, store, backend } = imageWorkspace("hoist-boot-uefi-", () => plan);

  it("boots with OVMF to multi-user with /boot, /boot/efi and both data disks mounted", async () => {
    for (const [dir, file, body] of [
      ["disk1", "a/b/one.txt", "one\n"],
      ["disk2", "two.txt", "two\n"],
    ] as const) {
      mkdirSync(join(work, "src", dir, file, ".."), { recursive: true });
      writeFileSync(join(work, "src", dir, file), body);
    }
    const root = await debianFixture();
    const inventory = await collectInventory(root, { bootMode: "uefi", paths: [join(work, "src/disk1"), join(work, "src/disk2")] });
    expect(inventory.canBoot.uefi).toBe(true);
    plan = makePlan(inventory, {
      systemDiskGiB: 20,
      separateBoot: true,
      dataDisks: [
        { index: 1, sizeGiB: 1, srcPath: "/mnt/disk1", usedBytes: inventory.paths[0]?.usedBytes ?? 0 },
        { index: 2, sizeGiB: 1, srcPath: "/mnt/disk2", usedBytes: inventory.paths[1]?.usedBytes ?? 0 },
      ],
    });
    expect(plan.disks[0]?.table).toBe("gpt");
    const job = { jobDir, plan };
    const disks = await backend.prepare(job, silentLogger);
    const mnt = (key: string): string => disks.find((d) => d.key === key)?.mountPath ?? "";
    const table = JSON.parse((await run("sfdisk", ["-J", join(jobDir, "disks/system.raw")])).stdout) as { partitiontable: { label: string; partitions: { start: number; size: number; type: string }[] } };
    expect(table.partitiontable.label).toBe("gpt");
    expect(table.partitiontable.partitions[0]).toMatchObject({ start: 2048, size: 256 * 2048, type: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" });

    await run("rsync", ["-aHAXS", "--numeric-ids", `${root}/`, `${mnt("system")}/`]);
    for (const k of ["disk1", "disk2"]) await run("rsync", ["-aHAXS", "--numeric-ids", `${join(work, "src", k)}/`, `${mnt(k)}/`]);

    const report = (await backend.convert(job, inventory, silentLogger)) as ConversionReport;
    expect(report.steps.filter((s) => !s.ok)).toEqual([]);
    // Read the loader back from the ESP itself (with mtools: the kernel here may not mount vfat).
    const esp = readJobState(jobDir).disks.system?.partitions["system-p1"]?.loop ?? "";
    await run("mcopy", ["-o", "-i", esp, "::/EFI/BOOT/BOOTX64.EFI", join(work, "bootx64.efi")], { env: { ...process.env, MTOOLS_SKIP_CHECK: "1" } });
    expect(readFileSync(join(work, "bootx64.efi")).subarray(0, 2).toString("latin1")).toBe("MZ");

    const detached = await backend.detach(job, silentLogger);
    const { stdout: loops } = await run("losetup", ["-j", join(jobDir, "disks/system.raw")]);
    expect(loops.trim()).toBe("");
    await createImage(store, "uefi-debian12", detached, { plan, inventory, conversion: report });

    const result = await verifyImage(store, "uefi-debian12", { timeoutSeconds: 900 });
    const consoleLog = readFileSync(result.consoleLogPath, "utf8");
    expect(result.booted, consoleLog.slice(-3000)).toBe(true);
    expect(result.mountedAll, consoleLog.slice(-3000)).toBe(true);
    const mounts = /HOIST-VERIFY mounts=(\S*)/.exec(consoleLog)?.[1]?.split(",") ?? [];
    expect(mounts).toEqual(expect.arrayContaining(["/", "/boot", "/boot/efi", "/mnt/disk1", "/mnt/disk2"]));

    const findings = await checkImage(store, "uefi-debian12");
    expect(findings.filter((f) => f.severity === "Critical")).toEqual([]);
  });
});

// The optional LVM re-layout, as a user runs it: `hoist migrate --lvm
// --separate-boot` of a Debian 12 (with lvm2) and one data disk. The image
// must boot to multi-user with /, /boot and the data disk mounted, with / on
// vg0/lv1 and the data disk on vg1/lv1 while /boot stays a plain partition;
// the exported disks are read back with LVM's own tools (only their own loop
// devices in view) and the data disk's files must sit on its LV exactly.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { releaseEverythingUnder } from "../helpers/cleanup";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { debianFixture, writableDebianSource } from "../helpers/debian-fixture";
import { localMigration, writeUserConfig } from "../helpers/local-migration";
import { debianUserConfig } from "../helpers/user-config";
import { withMountedFile } from "../helpers/mounts";
import { compareTrees } from "../helpers/tree";

const { base, env, hoist } = localMigration("hoist-boot-lvm-");
const source = join(base, "source");
const workdir = join(base, "work");
const refusedWorkdir = join(base, "work-refused");
const IMAGE = "debian12-lvm";
const attached: string[] = [];

function attach(file: string, offset: number, size: number, readOnly = true): string {
  const dev = execFileSync("losetup", ["--find", "--show", ...(readOnly ? ["--read-only"] : []), "--offset", String(offset), "--sizelimit", String(size), file], { encoding: "utf8" }).trim();
  attached.push(dev);
  return dev;
}

function detach(dev: string): void {
  spawnSync("losetup", ["-d", dev]);
  attached.splice(attached.indexOf(dev), 1);
}

function partitions(raw: string): { start: number; size: number; type: string }[] {
  const t = JSON.parse(execFileSync("sfdisk", ["-J", raw], { encoding: "utf8" })) as { partitiontable: { sectorsize?: number; partitions: { start: number; size: number; type: string }[] } };
  const sector = t.partitiontable.sectorsize ?? 512;
  return t.partitiontable.partitions.map((p) => ({ start: p.start * sector, size: p.size * sector, type: p.type }));
}

interface LvSeg {
  lv_name: string;
  vg_name: string;
  seg_pe_ranges: string;
  vg_extent_size: string;
  lv_size: string;
}

/** Reads the VG on one PV with LVM's own tools, seeing no device but that PV and never activating anything. */
function readVg(pv: string): { vg: string; lvs: { name: string; offset: number; size: number }[] } {
  const sysDir = mkdtempSync(join(base, "lvm-"));
  writeFileSync(join(sysDir, "lvm.conf"), "");
  const config = `global { activation = 0 locking_dir = "${sysDir}" } devices { filter = [ "a|^${pv}$|", "r|.*|" ] global_filter = [ "a|^${pv}$|", "r|.*|" ] use_devicesfile = 0 obtain_device_list_from_udev = 0 } backup { backup = 0 archive = 0 }`;
  const lvmEnv = { ...process.env, LVM_SYSTEM_DIR: sysDir, LVM_SUPPRESS_FD_WARNINGS: "1" };
  const lvs = JSON.parse(
    execFileSync("lvs", ["--config", config, "--readonly", "--segments", "-o", "lv_name,vg_name,seg_pe_ranges,vg_extent_size,lv_size", "--units", "b", "--reportformat", "json"], { env: lvmEnv, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }),
  ) as { report: { seg: LvSeg[] }[] };
  const pvs = JSON.parse(execFileSync("pvs", ["--config", config, "--readonly", "-o", "pv_name,pe_start", "--units", "b", "--reportformat", "json"], { env: lvmEnv, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })) as {
    report: { pv: { pv_name: string; pe_start: string }[] }[];
  };
  const peStart = Number(pvs.report[0]?.pv[0]?.pe_start.replace(/B$/, ""));
  const segs = lvs.report[0]?.seg ?? [];
  return {
    vg: segs[0]?.vg_name ?? "",
    lvs: segs.map((s) => ({
      name: s.lv_name,
      offset: peStart + Number(/:(\d+)-/.exec(s.seg_pe_ranges)?.[1]) * Number(s.vg_extent_size.replace(/B$/, "")),
      size: Number(s.lv_size.replace(/B$/, "")),
    })),
  };
}

interface Finding {
  severity: string;
  code: string;
  message: string;
}

function imageCheck(name: string): { status: number | null; findings: Finding[]; stderr: string } {
  const r = hoist(["image", "check", name, "--json", "--image-store", env.HOIST_IMAGE_STORE]);
  return { status: r.status, stderr: r.stderr, findings: r.stdout.trim() ? (JSON.parse(r.stdout) as Finding[]) : [] };
}

/** Mounts one filesystem of a raw disk read-write at [offset, offset+size), runs `edit` on it and unmounts. */
function editFs(raw: string, offset: number, size: number, edit: (mnt: string) => void): void {
  withMountedFile(raw, mkdtempSync(join(base, "edit-")), edit, { offset, size });
}

beforeAll(async () => {
  const fixture = await debianFixture();
  expect(existsSync(join(fixture, "etc/lvm/lvm.conf"))).toBe(true);
  // A writable view of the cached Debian root, so this run adds its own data disk without copying 800 MB.
  await writableDebianSource(base);
  const dir = join(source, "mnt", "disk1");
  mkdirSync(join(dir, "nested"), { recursive: true });
  writeFileSync(join(dir, "hello-lvm.txt"), "data on a logical volume\n");
  writeFileSync(join(dir, "nested", "random.bin"), randomBytes(2 * 2 ** 20));
  for (const dir of [workdir, refusedWorkdir]) writeUserConfig(dir, debianUserConfig(IMAGE));
}, 20 * 60_000);

afterAll(() => {
  for (const dev of [...attached]) spawnSync("losetup", ["-d", dev]);
  releaseEverythingUnder(base, env.HOIST_HOME);
});

describe("hoist migrate --lvm --separate-boot of a Debian 12 server with a data disk", () => {
  it("refuses LVM without a separate /boot before creating anything", () => {
    const r = hoist(["migrate", "--noenterkey", "--workdir", refusedWorkdir, "--source-root", source, "--lvm", "--datadisks", "1|20|/mnt/disk1"]);
    expect(r.status).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toContain("Plan.LvmNeedsBootPartition");
    expect(existsSync(join(env.HOIST_HOME, "instances")) ? readdirSync(join(env.HOIST_HOME, "instances")) : []).toEqual([]);
  });

  it("boots the image with / and the data disk on LVs and /boot on a partition", () => {
    const r = hoist(["migrate", "--noenterkey", "--workdir", workdir, "--source-root", source, "--lvm", "--separate-boot", "--datadisks", "1|20|/mnt/disk1"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain("LVM re-layout does not take effect");
    expect(r.stdout).toContain("booted to multi-user");
    expect(r.stdout.trim().split("\n")).toContain("Goto Hoist Finished!");

    const manifest = JSON.parse(readFileSync(join(env.HOIST_IMAGE_STORE, IMAGE, "manifest.json"), "utf8")) as {
      mounts: { mountPoint: string }[];
      verification: { status: string; mountedAll: boolean; reachedMultiUser: boolean };
      conversion: { steps: { name: string; detail?: string }[] };
    };
    expect(manifest.mounts.map((m) => m.mountPoint).sort()).toEqual(["/", "/boot", "/mnt/disk1"]);
    expect(manifest.verification).toMatchObject({ status: "booted", mountedAll: true, reachedMultiUser: true });
    expect(manifest.conversion.steps.find((s) => s.name === "fstab")?.detail).toContain("/ on vg0/lv1, /mnt/disk1 on vg1/lv1");

    const consoleLog = readFileSync(join(env.HOIST_IMAGE_STORE, IMAGE, "verify-console.log"), "utf8");
    // The kernel was told to mount the root LV, so reaching multi-user means the initramfs activated vg0.
    expect(consoleLog).toMatch(/Command line: \S*vmlinuz-\S+ root=\/dev\/mapper\/vg0-lv1 /);
    const report = /HOIST-VERIFY mounts=(\S*) failed=(\S*) end/.exec(consoleLog);
    expect(report?.[1]?.split(",")).toEqual(expect.arrayContaining(["/", "/boot", "/mnt/disk1"]));

    // Released on success: no receiver, no loop devices, and the host's LVM never saw the job's VGs.
    const instances = join(env.HOIST_HOME, "instances");
    expect(existsSync(instances) ? readdirSync(instances) : []).toEqual([]);
    expect(execFileSync("losetup", ["-a"], { encoding: "utf8" })).not.toContain(env.HOIST_HOME);
  });

  it("holds vg0/lv1 with the root filesystem and vg1/lv1 with the data disk's exact files", () => {
    const out = join(base, "export", "img.raw");
    mkdirSync(join(base, "export"), { recursive: true });
    const r = hoist(["image", "export", IMAGE, "--format", "raw", "--output", out, "--image-store", env.HOIST_IMAGE_STORE]);
    expect(r.status).toBe(0);

    const system = partitions(out);
    expect(system.map((p) => p.type)).toEqual(["83", "8e"]);
    const data = partitions(join(base, "export", "img-disk1.raw"));
    expect(data.map((p) => p.type)).toEqual(["8e"]);

    const check = (raw: string, pvPart: { start: number; size: number }, vgName: string, body: (mnt: string) => void): void => {
      const pv = attach(raw, pvPart.start, pvPart.size);
      let lv: { name: string; offset: number; size: number } | undefined;
      try {
        const vg = readVg(pv);
        expect(vg.vg).toBe(vgName);
        expect(vg.lvs.map((l) => l.name)).toEqual(["lv1"]);
        lv = vg.lvs[0];
      } finally {
        detach(pv);
      }
      if (!lv) throw new Error(`no LV in ${vgName}`);
      const dev = attach(raw, pvPart.start + lv.offset, lv.size);
      const mnt = join(base, "export", `mnt-${vgName}`);
      mkdirSync(mnt, { recursive: true });
      execFileSync("mount", ["-o", "ro", dev, mnt]);
      try {
        body(mnt);
      } finally {
        execFileSync("umount", [mnt]);
        detach(dev);
      }
    };

    check(out, system[1] as { start: number; size: number }, "vg0", (mnt) => {
      expect(readFileSync(join(mnt, "etc/hostname"), "utf8")).toBe("hoist-fixture\n");
      const fstab = readFileSync(join(mnt, "etc/fstab"), "utf8");
      const rootUuid = /^UUID=(\S+)\s+\/\s/m.exec(fstab)?.[1];
      const dev = attached[attached.length - 1] as string;
      expect(execFileSync("blkid", ["-p", "-o", "value", "-s", "UUID", dev], { encoding: "utf8" }).trim()).toBe(rootUuid);
      // /boot is on the plain first partition, so the kernels are not in the root LV's /boot.
      expect(readdirSync(join(mnt, "boot")).filter((f) => f.startsWith("vmlinuz-"))).toEqual([]);
    });
    check(join(base, "export", "img-disk1.raw"), data[0] as { start: number; size: number }, "vg1", (mnt) => {
      const diffs = compareTrees(join(source, "mnt", "disk1"), mnt).filter((d) => !d.startsWith('"lost+found"'));
      expect(diffs).toEqual([]);
    });

    const bootPart = system[0] as { start: number; size: number };
    const boot = attach(out, bootPart.start, bootPart.size);
    const bootMnt = join(base, "export", "mnt-boot");
    mkdirSync(bootMnt, { recursive: true });
    execFileSync("mount", ["-o", "ro", boot, bootMnt]);
    try {
      expect(readdirSync(bootMnt).some((f) => f.startsWith("vmlinuz-"))).toBe(true);
      expect(readFileSync(join(bootMnt, "grub/grub.cfg"), "utf8")).toContain("root=/dev/mapper/vg0-lv1");
    } finally {
      execFileSync("umount", [bootMnt]);
      detach(boot);
    }
  });

  it("passes hoist image check, which finds / and the data disk on their LVs", () => {
    const r = imageCheck(IMAGE);
    expect(r.stderr).toBe("");
    expect(r.findings.filter((f) => f.severity === "Critical")).toEqual([]);
    expect(r.status).toBe(0);
  });

  it("fails hoist image check on a copy whose fstab UUID and root= LV are on no LV in the image", () => {
    // The broken copy is the image exported as raw disks straight into a new image folder of the store.
    const broken = `${IMAGE}-broken`;
    const dir = join(env.HOIST_IMAGE_STORE, broken);
    const exported = hoist(["image", "export", IMAGE, "--format", "raw", "--output", join(dir, "system.raw"), "--image-store", env.HOIST_IMAGE_STORE]);
    expect(exported.status, exported.stderr).toBe(0);
    const raw = join(dir, "system.raw");
    const [bootPart, pvPart] = partitions(raw);
    if (!bootPart || !pvPart) throw new Error("the system disk lacks /boot or its PV");

    const pv = attach(raw, pvPart.start, pvPart.size);
    let rootLv: { offset: number; size: number } | undefined;
    try {
      rootLv = readVg(pv).lvs.find((l) => l.name === "lv1");
    } finally {
      detach(pv);
    }
    if (!rootLv) throw new Error("vg0 has no lv1");
    editFs(raw, pvPart.start + rootLv.offset, rootLv.size, (mnt) => {
      const fstab = readFileSync(join(mnt, "etc/fstab"), "utf8");
      writeFileSync(join(mnt, "etc/fstab"), `${fstab}UUID=0badbeef-0000-4000-8000-000000000000 /srv/old ext4 defaults 0 2\n`);
    });
    editFs(raw, bootPart.start, bootPart.size, (mnt) => {
      const cfg = readFileSync(join(mnt, "grub/grub.cfg"), "utf8");
      expect(cfg).toContain("root=/dev/mapper/vg0-lv1 ");
      writeFileSync(join(mnt, "grub/grub.cfg"), cfg.replaceAll("root=/dev/mapper/vg0-lv1 ", "root=/dev/mapper/vg0-lv9 "));
    });

    const manifest = JSON.parse(readFileSync(join(env.HOIST_IMAGE_STORE, IMAGE, "manifest.json"), "utf8")) as { disks: { key: string; file: string; format: string }[] };
    const disks = manifest.disks.map((d) => ({ ...d, file: d.key === "system" ? "system.raw" : `system-${d.key}.raw`, format: "raw" }));
    writeFileSync(join(dir, "manifest.json"), JSON.stringify({ ...manifest, name: broken, disks, verification: { status: "unverified" } }));

    const r = imageCheck(broken);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(1);
    const critical = r.findings.filter((f) => f.severity === "Critical");
    expect([...new Set(critical.map((f) => f.code))].sort()).toEqual(["Image.FstabUnknownUuid", "Image.GrubRootUnknown"]);
    expect(critical).toContainEqual(expect.objectContaining({ code: "Image.FstabUnknownUuid", message: expect.stringContaining("/srv/old") }));
    expect(critical).toContainEqual(expect.objectContaining({ code: "Image.GrubRootUnknown", message: expect.stringContaining("root=/dev/mapper/vg0-lv9") }));
  });
});

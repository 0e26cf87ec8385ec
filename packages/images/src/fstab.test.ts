import type { TargetPlan } from "@hoist/protocol";
import { describe, expect, it } from "vitest";
import { parseFstab, rewriteFstab } from "./fstab";

const plan: TargetPlan = {
  bootMode: "uefi",
  lvm: false,
  disks: [
    {
      key: "system",
      sizeGiB: 20,
      table: "gpt",
      sourcePath: "/",
      usedBytes: 0,
      partitions: [
        { key: "system-p1", role: "efi", mountPoint: "/boot/efi", fs: "vfat", sizeMiB: 256, uuid: "ABCD-1234" },
        { key: "system-p2", role: "root", mountPoint: "/", fs: "ext4", sizeMiB: null, uuid: "11111111-2222-3333-4444-555555555555" },
      ],
    },
    { key: "disk1", sizeGiB: 5, table: "gpt", sourcePath: "/mnt/disk1", usedBytes: 0, partitions: [{ key: "disk1-p1", role: "data", mountPoint: "/mnt/disk1", fs: "xfs", sizeMiB: null, uuid: "66666666-7777-8888-9999-000000000000" }] },
  ],
};

const SOURCE = `# /etc/fstab: static file system information.
UUID=aaaaaaaa-old-root / ext4 errors=remount-ro 0 1
UUID=0000-OLD0 /boot/efi vfat umask=0077 0 1
/dev/sdb1 /mnt/disk1 xfs defaults 0 0
/dev/sdc1 /srv/old ext4 defaults 0 2
UUID=swap-uuid none swap sw 0 0
tmpfs /tmp tmpfs defaults,size=1G 0 0
proc /proc proc defaults 0 0
`;

describe("rewriteFstab", () => {
  const out = rewriteFstab(SOURCE, plan);
  const entries = parseFstab(out);

  it("mounts every planned filesystem by its new UUID", () => {
    expect(entries.find((e) => e.file === "/")).toMatchObject({ spec: "UUID=11111111-2222-3333-4444-555555555555", vfstype: "ext4", passno: "1" });
    expect(entries.find((e) => e.file === "/boot/efi")).toMatchObject({ spec: "UUID=ABCD-1234", vfstype: "vfat" });
  });

  it("marks data disks nofail and does not fsck xfs", () => {
    const data = entries.find((e) => e.file === "/mnt/disk1");
    expect(data?.spec).toBe("UUID=66666666-7777-8888-9999-000000000000");
    expect(data?.options.split(",")).toContain("nofail");
    expect(data?.passno).toBe("0");
  });

  it("comments out source devices that were not migrated and keeps virtual mounts", () => {
    expect(out).toContain("# not on the migrated disks: /dev/sdc1 /srv/old ext4 defaults 0 2");
    expect(out).toContain("# not on the migrated disks: UUID=swap-uuid none swap sw 0 0");
    expect(entries.map((e) => e.file)).toEqual(["/tmp", "/proc", "/", "/boot/efi", "/mnt/disk1"]);
    expect(out).not.toMatch(/^UUID=aaaaaaaa/m);
    expect(out).toContain("# /etc/fstab: static file system information.");
  });

  it("is stable when run twice", () => {
    expect(rewriteFstab(out, plan)).toBe(out);
  });
});

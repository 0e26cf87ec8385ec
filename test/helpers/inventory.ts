// The source inventory tests start from: a Debian 12 server that boots with
// BIOS and GRUB 2, with nothing on it yet (no kernels, disks, mounts or data
// paths). Each test names what its case needs on top. Pure data with no
// Node.js imports, so the console's tests (browser code) use it too.
import type { SourceInventory } from "@hoist/protocol";

export const GiB = 2 ** 30;

/** The Debian 12 source, with `overrides` in place of whole top-level fields. */
export function debianInventory(overrides: Partial<SourceInventory> = {}): SourceInventory {
  return {
    sourceRoot: "/",
    collectedAt: "2026-01-01T00:00:00Z",
    hostname: "web-1",
    arch: "x86_64",
    os: { id: "debian", versionId: "12", prettyName: "Debian GNU/Linux 12 (bookworm)", idLike: [] },
    bootMode: "bios",
    canBoot: { bios: true, uefi: false },
    bootloader: { kind: "grub2", version: "2.06" },
    kernels: [],
    network: "ifupdown",
    disks: [],
    mounts: [],
    systemDiskBytes: 10 * GiB,
    usedBytes: 2 * GiB,
    paths: [],
    lvm: false,
    selinux: "absent",
    ...overrides,
  };
}

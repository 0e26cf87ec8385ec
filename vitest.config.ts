import { defineConfig } from "vitest/config";

// Unit tests sit beside the code. End-to-end tests drive the built `hoist`
// executable against real rsync, loop devices, GRUB and QEMU, with long
// timeouts, in two lanes that scripts/e2e-lanes.mjs runs side by side, each
// one file at a time: `e2e-boot` holds the files that boot images under QEMU
// (emulation keeps the CPU busy), `e2e` the rest, which wait much of their
// time on rate-limited links, timers and servers.
const BOOT_LANE = [
  "test/e2e/migrate-debian.test.ts",
  "test/e2e/boot-uefi.test.ts",
  "test/e2e/boot-lvm.test.ts",
  "test/e2e/block-lvm-snapshot.test.ts",
  "test/e2e/server-jobs-replicas.test.ts",
  "test/e2e/alibaba-migrate.test.ts",
  "test/e2e/alibaba-server.test.ts",
  "test/e2e/console.test.ts",
  // No boot, but a copy of the whole Debian tree by block: it evens out the lanes.
  "test/e2e/block-migrate.test.ts",
];

const e2e = {
  testTimeout: 30 * 60_000,
  hookTimeout: 30 * 60_000,
  fileParallelism: false,
  maxWorkers: 1,
  globalSetup: ["test/helpers/global-setup.ts"],
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["packages/*/src/**/*.test.ts", "apps/*/src/**/*.test.ts"],
          testTimeout: 30_000,
        },
      },
      { test: { name: "e2e-boot", include: BOOT_LANE, ...e2e } },
      { test: { name: "e2e", include: ["test/e2e/**/*.test.ts"], exclude: BOOT_LANE, ...e2e } },
    ],
  },
});

import { describe, expect, it } from "vitest";
import { codeOf } from "../../../test/helpers/errors";
import { debianInventory } from "../../../test/helpers/inventory";
import { makePlan } from "./plan";

const GiB = 1024 ** 3;

const inventory = debianInventory({
  collectedAt: "2024-01-01T00:00:00.000Z",
  hostname: "db1",
  canBoot: { bios: true, uefi: true },
  systemDiskBytes: 30 * GiB,
  usedBytes: 25 * GiB,
  paths: [{ path: "/data", usedBytes: 1 * GiB }],
  lvm: true,
});

const dataBlock = { mountPoint: "/data", sourceBytes: 50 * GiB, fs: "xfs", uuid: "0b9c3f61-53c5-4a38-9d2c-6a1f1e5f0d11" };
const rootBlock = { mountPoint: "/", sourceBytes: 29 * GiB, fs: "ext4", uuid: "3a4f8a2e-7c55-4f0e-9a54-1f2b3c4d5e6f" };

describe("makePlan with block replication", () => {
  it("keeps a block partition's filesystem and UUID and lets it grow, not shrink", () => {
    const plan = makePlan(inventory, { systemDiskGiB: 40, dataDisks: [{ index: 1, sizeGiB: 60, srcPath: "/data" }], blockPartitions: [dataBlock, rootBlock] });
    expect(plan.disks[0]?.partitions).toEqual([expect.objectContaining({ mountPoint: "/", fs: "ext4", uuid: rootBlock.uuid, replication: "block", sourceBytes: 29 * GiB })]);
    expect(plan.disks[1]?.partitions).toEqual([expect.objectContaining({ key: "disk1-p1", fs: "xfs", uuid: dataBlock.uuid, replication: "block", sourceBytes: 50 * GiB })]);
    // A block root is measured by its partition, not by the used space plus headroom.
    expect(codeOf(() => makePlan(inventory, { systemDiskGiB: 29, blockPartitions: [rootBlock] }))).toBe("Plan.BlockPartitionTooSmall");
    expect(codeOf(() => makePlan(inventory, { dataDisks: [{ index: 1, sizeGiB: 50, srcPath: "/data" }], blockPartitions: [dataBlock] }))).toBe("Plan.BlockPartitionTooSmall");
  });

  it("refuses what a block copy cannot do, each with its own code", () => {
    expect(codeOf(() => makePlan(inventory, { systemDiskGiB: 40, blockPartitions: [{ ...dataBlock, mountPoint: "/srv" }] }))).toBe("Plan.InvalidBlockPartition");
    expect(codeOf(() => makePlan(inventory, { systemDiskGiB: 40, blockPartitions: [{ ...rootBlock, fs: "btrfs" }] }))).toBe("Plan.BlockUnsupportedFs");
    expect(codeOf(() => makePlan(inventory, { systemDiskGiB: 40, separateBoot: true, lvm: true, blockPartitions: [rootBlock] }))).toBe("Plan.BlockWithLvm");
    expect(codeOf(() => makePlan(inventory, { systemDiskGiB: 40, separateBoot: true, blockPartitions: [rootBlock] }))).toBe("Plan.BlockRootWithOtherPartitions");
    expect(codeOf(() => makePlan(inventory, { systemDiskGiB: 40, bootMode: "uefi", blockPartitions: [rootBlock] }))).toBe("Plan.BlockRootWithOtherPartitions");
  });
});

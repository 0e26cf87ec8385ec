// Block-mode replication: used-blocks-only, hashed, compressed, incremental
// and verified copies of one source partition into one target partition.
export { type AllocationMap, type ByteRange, type ChunkSpan, chunksOf, complementRanges, detectFs, detectFsUuid, mergeRanges, parseDumpe2fs, parseXfsFreesp, readAllocation, sourceSize } from "./allocation";
export { type BlockProgress, type BlockTransferOptions, type BlockTransferResult, transferPartitionBlocks } from "./block-transfer";
export { createSnapshot, freezeFilesystem, type LogicalVolume, logicalVolumeOf, type MountInfo, mountOf, SNAPSHOT_PREFIX, snapshotBytes } from "./consistency";
export { type BlockSource, describeBlockSource } from "./block-source";

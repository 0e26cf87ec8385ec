// File-mode replication: walk, plan parallel streams, run rsync through the
// hoist tunnel to the receiver's per-job rsync daemon.
export { excludeRules, folderPassRules, type PlanOptions, planStreams, type StreamPlan, type StreamUnit, streamFilterRules } from "./plan-streams";
export { buildRsyncArgs, PARTIAL_DIR, type RsyncArgsOptions } from "./rsync-args";
export { interpretRsyncExit, type RsyncOutcome } from "./rsync-exit";
export { ChangeDetector, diskSourceChanges, keyToPath, NO_SOURCE_CHANGES, SnapshotWriter, type SourceChanges } from "./source-changes";
export { type TransferOptions, type TransferProgress, type TransferResult, transferTree } from "./transfer-tree";
export { type SourceWalk, type WalkOptions, walkSource } from "./walk";

// @hoist/protocol — the bottom floor: schemas, wire messages and error codes
// shared by the agent, the receiver, the images pipeline and the control
// plane. Nothing here touches Node.js APIs, so the console can import it too.
export * from "./errors";
export * from "./plan";
export * from "./receiver-api";
export * from "./block";
export * from "./image-manifest";
export * from "./inventory";
export * from "./user-config";
export * from "./control-plane";
export * from "./replication-job";
export * from "./job-rules";
export * from "./activation-code-rules";
export * from "./source-changes";

// @hoist/transport — how agents and receivers reach each other: the receiver's
// self-signed certificate and fingerprint pinning, the header frame on the
// data port, the HTTPS JSON client for the control API, and the tunnel rsync
// uses as its remote shell; the binary records and chunk workers of block mode.
export * from "./certificate";
export * from "./control-client";
export * from "./frame";
export * from "./pinned-tls";
export * from "./tunnel";
export * from "./block-records";
export * from "./chunk-workers";
export * from "./chunk-pool";

// @hoist/receiver — the daemon on the intermediate instance. It owns the
// target disks of each job through a TargetBackend, serves the control API
// (jobs, prepare, convert, detach) and the data port, where each authenticated
// connection becomes an rsync daemon confined to that job's disks.
export { bearerToken, FailureThrottle, sha256Hex, tokenMatches } from "./auth";
export { createDirectoryBackend } from "./directory-backend";
export { buildRsyncdConfig, checkRsyncCommand } from "./rsync-daemon";
export { type ReceiverOptions, type RunningReceiver, startReceiver } from "./receiver";

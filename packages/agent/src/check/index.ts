// Pre-flight checks of a source server (the client_check of go2aliyun_client).
export { checkGrub, checkVirtio, kernelsOf, parseGrubVersion } from "./boot-items";
export { checkPort, checkReceiverHealth, normalizeFingerprint } from "./receiver-items";
export { type CheckReport, formatCheckReport, runChecks } from "./run-checks";
export { checkRoot, checkRsync, checkSelinux, checkWorkdirSpace, compareVersions, hostSelinuxMode, parseRsyncVersion } from "./system-items";
export { CLOCK_SKEW_LIMIT_SECONDS, type CheckItem, type CheckOptions, type CheckStatus } from "./types";

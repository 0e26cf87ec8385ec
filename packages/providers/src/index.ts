// @hoist/providers — where images land. One Provider interface; `local` (the
// default: receiver processes on this host, qcow2 images in an image store,
// QEMU to boot them) and `alibaba` (ECS, VPC, OSS and ENS through the official SDK).
export type { CreateImageRequest, ImageDetail, ImageInfo, IntermediateInstance, IntermediateInstanceRequest, Placement, Provider, TargetDiskFile } from "./provider";
export {
  type AlibabaProvider,
  type AlibabaProviderOptions,
  createAlibabaProvider,
  DEFAULT_INSTANCE_TYPES,
  DEFAULT_RECEIVER_PORTS,
  INTERMEDIATE_INSTANCE_NAME,
  TEMP_DISK_NAME,
} from "./alibaba/alibaba-provider";
export { type AlibabaCredentials, defaultCredentialsFile, resolveCredentials } from "./alibaba/credentials";
export { type AlibabaTarget, destinationProblems, ENS_IMPORT_REGIONS, ensLimitProblems } from "./alibaba/targets";
export { parseUserData, renderUserData } from "./alibaba/user-data";
export { createLocalProvider, defaultHoistHome, type LocalProviderOptions } from "./local/local-provider";
export { receiverHealthy, startReceiver, stopReceiver } from "./local/receiver-process";

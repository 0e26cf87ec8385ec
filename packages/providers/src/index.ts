// @hoist/providers — where images land. One Provider interface; `local` (the
// default: receiver processes on this host, qcow2 images in an image store,
// QEMU to boot them) is the first implementation.
export type { CreateImageRequest, ImageDetail, ImageInfo, IntermediateInstance, Provider, TargetDiskFile } from "./provider";
export { createLocalProvider, defaultHoistHome, type LocalProviderOptions } from "./local/local-provider";
export { receiverHealthy, startReceiver, stopReceiver } from "./local/receiver-process";

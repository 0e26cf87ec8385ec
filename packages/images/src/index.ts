// @hoist/images — from inventory to bootable image: the plan, target disk
// preparation, boot conversion, the local image store, verification by boot
// and the static image check.
export * from "./backend";
export { createDiskBackend, readJobState, sfdiskScript } from "./disk-backend";
export { convertTarget } from "./convert";
export { plannedFstabEntries, parseFstab, rewriteFstab } from "./fstab";
export { KERNEL_CONSOLE, kernelArgs, renderGrubCfg, rewriteDefaultGrub, sortKernels } from "./grub-config";
export { VERIFY_MARKER, VERIFY_UNIT_NAME } from "./guest-config";
export { listInitramfs, virtioIn } from "./initramfs";
export { collectInventory, type InventoryOptions, parseOsRelease, usedBytesOf } from "./inventory";
export { diskMountPath, diskRawPath } from "./job-paths";
export { createImage, defaultImageStore, exportImage, type ImageFields, imagePath, listImages, readManifest, removeImage, validateImageName, writeManifest } from "./image-store";
export { type BlockPartitionSetting, type DataDiskSetting, lvmFallbackReason, makePlan, type PlanSettings } from "./plan";
export { kvmUsable, missingMounts, readConsole, type VerifyOptions, type VerifyResult, verifyImage } from "./verify";
export { checkImage } from "./image-check";

// @hoist/images — from inventory to bootable image: the plan, target disk
// preparation, boot conversion, the local image store, verification by boot
// and the static image check.
export * from "./backend";

// A provider is the cloud an image lands in. Every provider implements this
// one interface and passes the shared conformance suite; the one-shot
// migration and the control plane only ever talk to a provider through it.
import type { SourceInventory, TargetPlan } from "@hoist/protocol";
import type { ConversionReport, ImageFinding, ImageVerification } from "@hoist/protocol";

/** How the agent reaches an intermediate instance's receiver. */
export interface IntermediateInstance {
  provider: string;
  instanceId: string;
  host: string;
  controlPort: number;
  dataPort: number;
  /** SHA-256 of the receiver's certificate (lowercase hex, no colons); the agent pins it. */
  fingerprint: string;
  /** Credential for creating jobs on the receiver. Never written to client_data or logs. */
  adminToken: string;
}

export interface TargetDiskFile {
  key: string;
  /** Where the provider can read the finished disk (a raw file for the local provider). */
  rawPath: string;
  sizeBytes: number;
}

export interface CreateImageRequest {
  name: string;
  /** The intermediate instance holding the disks (a cloud provider writes them onto its cloud disks from there). */
  instanceId?: string;
  region: string;
  disks: TargetDiskFile[];
  /** Facts recorded with the image: its layout, the source inventory and the conversion report. */
  plan: TargetPlan;
  inventory: SourceInventory;
  conversion: unknown;
}

export interface ImageInfo {
  name: string;
  region: string;
  createdAt: string;
  disks: { key: string; virtualSizeBytes: number; format: string }[];
  verification: ImageVerification;
}

/** What is known about one image beyond its summary, for people looking at it. */
export interface ImageDetail extends ImageInfo {
  /** Every change made to boot the copy on the new hypervisor, with its diff. */
  conversion: ConversionReport | null;
  /** The end of the boot check's serial console (at most 64 KiB), when it ran. */
  consoleLog: string | null;
  source: { os: string; kernel: string | null; usedBytes: number; systemDiskBytes: number } | null;
}

export interface IntermediateInstanceRequest {
  region: string;
  label: string;
  /** The target layout and the source's facts, when known: a cloud provider sizes disks and checks its limits (ENS, an existing instance) with them before creating anything. */
  plan?: TargetPlan;
  inventory?: SourceInventory;
}

export interface Provider {
  readonly name: string;
  /** Starts a new intermediate instance for one migration. */
  createIntermediateInstance(request: IntermediateInstanceRequest): Promise<IntermediateInstance>;
  /**
   * Finds an instance created earlier (after a crash or a rerun); restarts its receiver when the
   * instance is there but the receiver is not. Null when the instance no longer exists (released).
   */
  findIntermediateInstance(instanceId: string): Promise<IntermediateInstance | null>;
  releaseIntermediateInstance(instanceId: string): Promise<void>;
  imageExists(name: string, region: string): Promise<boolean>;
  createImage(request: CreateImageRequest): Promise<ImageInfo>;
  /** Boots the image and proves it reaches multi-user with its filesystems mounted. */
  verifyImage(name: string, region: string, options?: { timeoutSeconds?: number }): Promise<ImageVerification>;
  listImages(region?: string): Promise<ImageInfo[]>;
  deleteImage(name: string, region: string): Promise<void>;
  /** The image's conversion report and boot log; null when there is no such image. Optional: not every cloud keeps them. */
  describeImage?(name: string, region: string): Promise<ImageDetail | null>;
  /** Reads the image's disks without booting them (fstab, bootloader, initramfs, network) and reports what would stop it booting. */
  checkImage?(name: string, region: string): Promise<ImageFinding[]>;
}

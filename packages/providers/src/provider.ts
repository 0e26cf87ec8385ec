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
  /** The migration's region and network (a boot check or an existing destination acts there). */
  placement?: Placement;
  /** False when no boot check (verifyImage) follows: a provider that finishes an image only once it booted (an ENS import) finishes it here. */
  verify?: boolean;
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

/**
 * Where one migration's resources go, from that migration's own settings (a replication job's
 * RegionId, NetMode, VpcId, VSwitchId, InstanceType). A provider serving many jobs at once (the
 * control plane's) acts in each job's region and network when its calls carry the job's placement;
 * a provider with one place (the local one) reads nothing but the region.
 */
export interface Placement {
  region: string;
  /** "public": the intermediate instance has a public address; "vpc": the source reaches it over a private link. */
  netMode?: "public" | "vpc";
  vpcId?: string;
  vSwitchId?: string;
  /** The intermediate instance's type, used alone (no fallback to other types). */
  instanceType?: string;
  /**
   * An existing instance the migration lands on instead of a new image (a replication job's
   * TargetInstance): it serves as the intermediate instance, its disks take the copy, and it is
   * never deleted. Only a provider with `migratesOntoInstances` acts on it.
   */
  destinationInstanceId?: string;
}

export interface IntermediateInstanceRequest {
  region: string;
  /** The migration's region and network, when it has its own (region above still names the region). */
  placement?: Placement;
  label: string;
  /** The target layout and the source's facts, when known: a cloud provider sizes disks and checks its limits (ENS, an existing instance) with them before creating anything. */
  plan?: TargetPlan;
  inventory?: SourceInventory;
  /**
   * The label names one owner's only instance (a replication job's id): an instance an earlier call
   * started under it, whose caller died before recording it, is taken up instead of starting a
   * second one. Providers that cannot find instances by label start a new one.
   */
  adopt?: boolean;
}

export interface Provider {
  readonly name: string;
  /** True when a migration can land on an existing instance of this cloud (Placement.destinationInstanceId) rather than in a new image. */
  readonly migratesOntoInstances?: boolean;
  /** Starts a new intermediate instance for one migration. */
  createIntermediateInstance(request: IntermediateInstanceRequest): Promise<IntermediateInstance>;
  /**
   * Finds an instance created earlier (after a crash or a rerun); restarts its receiver when the
   * instance is there but the receiver is not. Null when the instance no longer exists (released).
   * `placement` names the region and network it was started in (a restarted control plane knows
   * only the id and the job's settings); without it the provider looks where it was configured to.
   */
  findIntermediateInstance(instanceId: string, placement?: Placement): Promise<IntermediateInstance | null>;
  /**
   * Releases the instance and what was made for it. `placement` names where it was started (its
   * region and network); without it the provider looks where it was configured to.
   */
  releaseIntermediateInstance(instanceId: string, placement?: Placement): Promise<void>;
  imageExists(name: string, region: string): Promise<boolean>;
  createImage(request: CreateImageRequest): Promise<ImageInfo>;
  /** Boots the image and proves it reaches multi-user with its filesystems mounted. */
  verifyImage(name: string, region: string, options?: { timeoutSeconds?: number; placement?: Placement }): Promise<ImageVerification>;
  listImages(region?: string): Promise<ImageInfo[]>;
  deleteImage(name: string, region: string): Promise<void>;
  /** The image's conversion report and boot log; null when there is no such image. Optional: not every cloud keeps them. */
  describeImage?(name: string, region: string): Promise<ImageDetail | null>;
  /** Reads the image's disks without booting them (fstab, bootloader, initramfs, network) and reports what would stop it booting. */
  checkImage?(name: string, region: string): Promise<ImageFinding[]>;
  /**
   * Puts the existing destination instance that `placement` names back as it was before the
   * migration (its disks from the snapshots taken first, its own user data); the instance stays.
   * Nothing happens when no migration changed it. Only providers with `migratesOntoInstances`.
   */
  rollbackDestination?(placement?: Placement): Promise<void>;
}

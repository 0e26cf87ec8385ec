// Where a migration into Alibaba Cloud ends, and the checks each kind of
// destination needs before anything is created: the limits of an ENS image
// (seed 004) and the fit of an existing ECS instance (seed 003).
import { HoistError, type SourceInventory, type TargetPlan } from "@hoist/protocol";

export type AlibabaTarget =
  | { kind: "image" }
  /** Migrate onto an existing instance; testOnly rolls its disks back once the test boot is done. */
  | { kind: "instance"; instanceId: string; testOnly?: boolean }
  /** An ENS image: an ECS image in the transit region exported to the user's OSS bucket and imported into ENS. */
  | { kind: "ens"; ensRegionId: string; transitBucket: string };

const GiB = 1024 ** 3;

/** Regions into which ENS imports images (seed 004: China (Beijing) and Singapore). */
export const ENS_IMPORT_REGIONS = ["cn-beijing", "ap-southeast-1"] as const;
export const ENS_MAX_DATA_DISKS = 4;
export const ENS_MAX_DATA_DISK_GIB = 500;
export const ENS_MAX_TOTAL_GIB = 1024;

export interface LimitProblem {
  code: string;
  message: string;
}

/** Every ENS limit the migration breaks (empty when it fits). */
export function ensLimitProblems(target: { ensRegionId: string }, plan: TargetPlan, inventory: Pick<SourceInventory, "arch" | "os">): LimitProblem[] {
  const problems: LimitProblem[] = [];
  if (!(ENS_IMPORT_REGIONS as readonly string[]).includes(target.ensRegionId)) {
    problems.push({ code: "Ens.UnsupportedRegion", message: `ENS imports images only in ${ENS_IMPORT_REGIONS.join(" and ")} (China (Beijing), Singapore), not ${target.ensRegionId}` });
  }
  if (/windows/i.test(`${inventory.os.id} ${inventory.os.prettyName}`)) problems.push({ code: "Ens.NotLinux", message: "ENS images can be made only from Linux servers" });
  if (!/^(x86_64|amd64)$/.test(inventory.arch)) problems.push({ code: "Ens.NotX86", message: `ENS supports only x86 servers, this one is ${inventory.arch}` });
  const data = plan.disks.filter((d) => d.key !== "system");
  if (data.length > ENS_MAX_DATA_DISKS) problems.push({ code: "Ens.TooManyDataDisks", message: `ENS allows at most ${ENS_MAX_DATA_DISKS} data disks, the migration has ${data.length}` });
  for (const d of data) {
    if (d.sizeGiB > ENS_MAX_DATA_DISK_GIB) problems.push({ code: "Ens.DataDiskTooLarge", message: `data disk ${d.key} is ${d.sizeGiB} GiB; ENS allows at most ${ENS_MAX_DATA_DISK_GIB} GiB per data disk` });
  }
  // The 1 TiB limit is on the compressed image; the used bytes are what a compressed export can shrink to at best.
  const total = plan.disks.reduce((n, d) => n + d.usedBytes, 0);
  if (total > ENS_MAX_TOTAL_GIB * GiB) problems.push({ code: "Ens.ImageTooLarge", message: `the disks hold ${(total / GiB).toFixed(1)} GiB; an ENS image may be at most 1 TiB in all` });
  return problems;
}

export function assertEnsLimits(target: { ensRegionId: string }, plan: TargetPlan, inventory: Pick<SourceInventory, "arch" | "os">): void {
  const problems = ensLimitProblems(target, plan, inventory);
  if (problems.length === 0) return;
  throw new HoistError("Ens.LimitExceeded", `this server cannot become an ENS image: ${problems.map((p) => p.message).join("; ")}`, {
    fix: "Change the data disks (at most 4, each ≤ 500 GiB, ≤ 1 TiB used in all), choose cn-beijing or ap-southeast-1, or migrate to an ECS image instead.",
    details: { problems },
  });
}

export interface DestinationDisk {
  diskId: string;
  type: "system" | "data";
  sizeGiB: number;
  device: string;
}

export interface DestinationFacts {
  instanceId: string;
  osType: string;
  disks: DestinationDisk[];
}

/** Seed 003's conditions for migrating onto an existing instance. */
export function destinationProblems(dest: DestinationFacts, plan: TargetPlan): LimitProblem[] {
  const problems: LimitProblem[] = [];
  if (dest.osType.toLowerCase() !== "linux") problems.push({ code: "Destination.OsMismatch", message: `the destination instance runs ${dest.osType}; a Linux source needs a Linux destination` });
  const wantData = plan.disks.filter((d) => d.key !== "system");
  const haveData = dest.disks.filter((d) => d.type === "data");
  if (haveData.length < wantData.length) {
    problems.push({ code: "Destination.TooFewDataDisks", message: `the destination has ${haveData.length} data disk(s), the source needs ${wantData.length}` });
  }
  const pairs: [TargetPlan["disks"][number], DestinationDisk | undefined][] = [
    [plan.disks.find((d) => d.key === "system")!, dest.disks.find((d) => d.type === "system")],
    ...wantData.map((d, i) => [d, haveData[i]] as [TargetPlan["disks"][number], DestinationDisk | undefined]),
  ];
  for (const [want, have] of pairs) {
    if (!want || !have) continue;
    if (have.sizeGiB * GiB < want.usedBytes) {
      problems.push({ code: "Destination.DiskTooSmall", message: `destination disk ${have.diskId} (${have.sizeGiB} GiB) is smaller than the ${(want.usedBytes / GiB).toFixed(1)} GiB used on the source's ${want.key}` });
    }
  }
  return problems;
}

export function assertDestinationFits(dest: DestinationFacts, plan: TargetPlan): void {
  const problems = destinationProblems(dest, plan);
  if (problems.length === 0) return;
  throw new HoistError("Destination.Unsuitable", `instance ${dest.instanceId} cannot take this server: ${problems.map((p) => p.message).join("; ")}`, {
    fix: "Attach enough data disks, resize the disks to at least the source's used space, or use a Linux instance; nothing was changed on it.",
    details: { problems },
  });
}

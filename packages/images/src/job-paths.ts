// Where a job's target disks live inside its folder on the intermediate instance.
import { join } from "node:path";

export function diskRawPath(jobDir: string, key: string): string {
  return join(jobDir, "disks", `${key}.raw`);
}

export function diskMountPath(jobDir: string, key: string): string {
  return join(jobDir, "mnt", key);
}

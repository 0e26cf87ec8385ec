// A target backend whose "disks" are plain folders under the job directory.
// It lets the receiver and the transfer run anywhere (no loop devices, no
// root filesystems); conversion is not possible on it.
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { JobTargets, PreparedDisk, TargetBackend } from "@hoist/images";

function disksOf(job: JobTargets): PreparedDisk[] {
  return job.plan.disks.map((d) => {
    const path = join(job.jobDir, "targets", d.key);
    return { key: d.key, rawPath: path, sizeBytes: d.sizeGiB * 2 ** 30, mountPath: path };
  });
}

export function createDirectoryBackend(): TargetBackend {
  return {
    async prepare(job, log) {
      const disks = disksOf(job);
      for (const d of disks) await mkdir(d.mountPath, { recursive: true, mode: 0o755 });
      log.info("directory targets ready", { disks: disks.map((d) => d.key) });
      return disks;
    },
    async convert(_job, _inventory, log) {
      log.warn("the directory backend cannot make a target bootable; conversion skipped");
      return { converted: false, reason: "directory backend" };
    },
    async detach(job) {
      return disksOf(job);
    },
    async release(job) {
      await rm(join(job.jobDir, "targets"), { recursive: true, force: true });
    },
  };
}

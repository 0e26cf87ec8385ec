// Copies a finished target disk (a raw file of a detached job) onto a disk
// attached to the intermediate instance, so that a cloud provider can
// snapshot that disk and make an image of it. Only files inside the jobs
// folder can be read, and only a block device or an existing file of at least
// the same size can be written: the call never creates or grows anything.
import { realpathSync, statSync } from "node:fs";
import { isAbsolute, sep } from "node:path";
import { HoistError } from "@hoist/protocol";
import { type Logger, run } from "@hoist/runtime";

export interface WrittenDisk {
  source: string;
  device: string;
  bytes: number;
}

async function deviceBytes(device: string): Promise<number> {
  const st = statSync(device);
  if (st.isFile()) return st.size;
  const r = await run("blockdev", ["--getsize64", device], { code: "Receiver.DeviceUnreadable" });
  return Number(r.stdout.trim());
}

export async function writeDiskToDevice(jobsDir: string, source: string, device: string, log: Logger): Promise<WrittenDisk> {
  if (!isAbsolute(source) || !isAbsolute(device)) throw new HoistError("Receiver.BadRequest", "source and device must be absolute paths");
  let realSource: string;
  let realDevice: string;
  try {
    realSource = realpathSync(source);
    realDevice = realpathSync(device);
  } catch {
    throw new HoistError("Receiver.NotFound", `no such disk or device: ${source} → ${device}`, { fix: "Detach the job first and wait until the cloud disk is attached." });
  }
  const root = realpathSync(jobsDir);
  if (!realSource.startsWith(root + sep) || !realSource.endsWith(".raw") || !statSync(realSource).isFile()) {
    throw new HoistError("Receiver.BadRequest", "the source must be a target disk file of a job on this receiver");
  }
  const dst = statSync(realDevice);
  if (!dst.isBlockDevice() && !dst.isFile()) throw new HoistError("Receiver.BadRequest", `${device} is neither a block device nor a disk file`);
  if (realDevice.startsWith(root + sep)) throw new HoistError("Receiver.BadRequest", "the device must not be a job's own disk");
  const need = statSync(realSource).size;
  const have = await deviceBytes(realDevice);
  if (have < need) {
    throw new HoistError("Receiver.DeviceTooSmall", `${device} holds ${have} bytes, the disk needs ${need}`, {
      fix: "Resize the cloud disk to at least the target disk's size and write again.",
      details: { deviceBytes: have, sourceBytes: need },
    });
  }
  log.info("writing a target disk onto a device", { source: realSource, device: realDevice, bytes: need });
  // -n: write into the existing device; zero runs are written as zeros too, so a reused disk keeps no stale data.
  await run("qemu-img", ["convert", "-n", "-f", "raw", "-O", "raw", realSource, realDevice], { code: "Receiver.WriteFailed" });
  await run("sync", [], {});
  return { source: realSource, device: realDevice, bytes: need };
}

// The local provider: the default, needing no account. An intermediate
// instance is a `hoist receiver` process on this host with its own state
// folder; target disks are sparse raw files; an image is qcow2 files plus a
// manifest in the image store; an instance is a QEMU VM.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { type ConversionReport, HoistError, type ImageManifest } from "@hoist/protocol";
import { checkImage, createImage, defaultImageStore, imagePath, listImages, readManifest, removeImage, verifyImage } from "@hoist/images";
import { type Logger, silentLogger } from "@hoist/runtime";
import { createControlClient } from "@hoist/transport";
import type { CreateImageRequest, ImageDetail, ImageInfo, IntermediateInstance, Provider } from "../provider";
import { newInstanceId, startReceiver, stopReceiver } from "./receiver-process";

export interface LocalProviderOptions {
  /** Where intermediate instances keep their state (default $HOIST_HOME or /var/lib/hoist). */
  home?: string;
  /** Image store folder (default $HOIST_IMAGE_STORE or /var/lib/hoist/images). */
  imageStore?: string;
  logger?: Logger;
}

export function defaultHoistHome(): string {
  return process.env["HOIST_HOME"] ?? "/var/lib/hoist";
}

function info(m: ImageManifest): ImageInfo {
  return {
    name: m.name,
    region: m.region,
    createdAt: m.createdAt,
    disks: m.disks.map((d) => ({ key: d.key, virtualSizeBytes: d.virtualSizeBytes, format: d.format })),
    verification: m.verification,
  };
}

/** The last `max` bytes of a text file, or null when it is not there. */
function tail(path: string, max: number): string | null {
  if (!existsSync(path)) return null;
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, max);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    return buf.toString("utf8");
  } finally {
    closeSync(fd);
  }
}

export function createLocalProvider(options: LocalProviderOptions = {}): Provider & { readonly imageStore: string; instanceDir(id: string): string } {
  const home = options.home ?? defaultHoistHome();
  const imageStore = options.imageStore ?? defaultImageStore();
  const log = options.logger ?? silentLogger;
  const instanceDir = (id: string): string => {
    if (!/^i-local-[0-9a-f]{12}$/.test(id)) throw new HoistError("IntermediateInstance.InvalidId", `not a local intermediate instance id: ${id}`);
    return join(home, "instances", id);
  };

  async function releaseJobs(instance: IntermediateInstance): Promise<void> {
    // Jobs own loop devices and mounts; the receiver frees them when a job is deleted.
    const jobsDir = join(instanceDir(instance.instanceId), "jobs");
    if (!existsSync(jobsDir)) return;
    const admin = createControlClient({ host: instance.host, port: instance.controlPort, fingerprint: instance.fingerprint, token: instance.adminToken, timeoutMs: 300_000 });
    for (const jobId of readdirSync(jobsDir)) {
      const res = await admin.call("DELETE", `/v1/jobs/${jobId}`);
      if (res.status >= 300 && res.status !== 404) log.warn("could not release a job on the intermediate instance", { jobId, status: res.status });
    }
  }

  return {
    name: "local",
    imageStore,
    instanceDir,

    async createIntermediateInstance({ label, adopt }) {
      // Each instance's folder names its label before its receiver starts, so an instance whose
      // caller died while it started is found again by it.
      const instances = join(home, "instances");
      if (adopt && existsSync(instances)) {
        for (const id of readdirSync(instances)) {
          const labelFile = join(instances, id, "label");
          if (/^i-local-[0-9a-f]{12}$/.test(id) && existsSync(labelFile) && readFileSync(labelFile, "utf8") === label) {
            log.info("taking up an intermediate instance started earlier for this label", { instanceId: id, label });
            return startReceiver(id, { stateDir: instanceDir(id) });
          }
        }
      }
      const id = newInstanceId();
      log.info("starting intermediate instance", { instanceId: id, label });
      mkdirSync(instanceDir(id), { recursive: true, mode: 0o700 });
      writeFileSync(join(instanceDir(id), "label"), label, { mode: 0o600 });
      return startReceiver(id, { stateDir: instanceDir(id) });
    },

    async findIntermediateInstance(instanceId) {
      const dir = instanceDir(instanceId);
      if (!existsSync(join(dir, "admin.token"))) return null;
      return startReceiver(instanceId, { stateDir: dir });
    },

    async releaseIntermediateInstance(instanceId) {
      const dir = instanceDir(instanceId);
      if (!existsSync(dir)) return;
      // The receiver is (re)started only while it still has jobs to free: a release cut short after
      // they were freed goes straight on to stopping it and removing the folder.
      const jobsDir = join(dir, "jobs");
      if (existsSync(jobsDir) && readdirSync(jobsDir).length > 0) {
        const instance = await startReceiver(instanceId, { stateDir: dir }).catch(() => null);
        if (instance) await releaseJobs(instance);
      }
      await stopReceiver(dir);
      rmSync(dir, { recursive: true, force: true });
      log.info("released intermediate instance", { instanceId });
    },

    async imageExists(name, region) {
      return listImages(imageStore).some((m) => m.name === name && m.region === region);
    },

    async createImage(request: CreateImageRequest) {
      const manifest = await createImage(
        imageStore,
        request.name,
        request.disks.map((d) => ({ key: d.key, rawPath: d.rawPath, sizeBytes: d.sizeBytes, mountPath: "" })),
        { region: request.region, plan: request.plan, inventory: request.inventory, conversion: (request.conversion ?? null) as ConversionReport | null },
      );
      return info(manifest);
    },

    async verifyImage(name, _region, opts) {
      await verifyImage(imageStore, name, { timeoutSeconds: opts?.timeoutSeconds, log });
      return readManifest(imageStore, name).verification;
    },

    async listImages(region) {
      return listImages(imageStore)
        .filter((m) => region === undefined || m.region === region)
        .map(info);
    },

    async deleteImage(name) {
      removeImage(imageStore, name);
    },

    async describeImage(name, region): Promise<ImageDetail | null> {
      const m = listImages(imageStore).find((x) => x.name === name && x.region === region);
      if (!m) return null;
      // The manifest names the log beside it; only the file name is taken, so it cannot point elsewhere.
      const log = imagePath(imageStore, name, basename(m.verification.consoleLog ?? "verify-console.log"));
      return { ...info(m), conversion: m.conversion, consoleLog: tail(log, 64 * 1024), source: m.source };
    },

    async checkImage(name) {
      return checkImage(imageStore, name);
    },
  };
}

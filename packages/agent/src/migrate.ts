// The one-shot migration (`hoist migrate`, go2aliyun_client's job): from a
// validated configuration to a verified image, through an intermediate
// instance that a provider runs. Every stage is safe to run again, so a rerun
// after any crash simply walks the stages from the start: preparing disks is
// idempotent, the copy is an incremental re-sync, conversion and image
// creation are redone from the copied disks. client_data remembers what
// exists (the intermediate instance, the job) so nothing is created twice.
import { join } from "node:path";
import { type DiskSourceChanges, HoistError, type SourceInventory, sourceChangesSummary, type TargetPlan } from "@hoist/protocol";
import { collectInventory, lvmFallbackReason, makePlan, type PlanSettings } from "@hoist/images";
import type { IntermediateInstance, Provider } from "@hoist/providers";
import type { Logger } from "@hoist/runtime";
import { createControlClient } from "@hoist/transport";
import { type ClientData, clearClientData, loadClientData, loadClientToken, resumeOrStart, saveClientData, saveClientToken, updateDisk } from "./client-data";
import type { PreparedMigration } from "./config/index";
import type { ProgressReporter } from "./progress";
import { type BlockSource, describeBlockSource, transferPartitionBlocks } from "./block/index";
import { DEFAULT_LINUX_EXCLUDES } from "./workdir";
import { diskSourceChanges, transferTree } from "./transfer/index";

export interface MigrateRunOptions {
  prepared: PreparedMigration;
  provider: Provider;
  log: Logger;
  progress: ProgressReporter;
  /** Boot the image before saying the migration finished (default true). */
  verify?: boolean;
  verifyTimeoutSeconds?: number;
  /** Stop after the copy; the target disks stay on the intermediate instance. */
  copyOnly?: boolean;
  /** Secrets that must never reach client_data. */
  secrets?: string[];
  /** Told about each milestone in plain words. */
  say?: (line: string) => void;
}

export interface MigrateOutcome {
  imageName: string;
  /** "copied" for --copy-only, "finished" when the image exists (and booted, unless verification was skipped). */
  result: "copied" | "finished" | "already-finished";
  bootSeconds?: number;
  verified: boolean;
  /** Per disk copied by file: what changed on the source while it was copied. */
  changedDuringCopy?: DiskSourceChanges[];
}

/** Key of a data disk in client_data for plan disk "diskN". */
const clientKey = (planKey: string): string => (planKey === "system" ? "system" : planKey.replace(/^disk/, "data"));

/** Releases what an earlier run created and forgets it (--cleardata). */
export async function clearMigrationData(workdir: string, provider: Provider, log: Logger): Promise<string | null> {
  let data: ClientData | undefined;
  try {
    data = loadClientData(workdir);
  } catch (e) {
    log.warn("client_data was unreadable; clearing it anyway", { error: String(e) });
  }
  const instanceId = data?.intermediateInstance?.instanceId ?? null;
  if (instanceId && data?.intermediateInstance?.provider === provider.name) {
    await provider.releaseIntermediateInstance(instanceId);
    log.info("released the intermediate instance of the previous run", { instanceId });
  }
  clearClientData(workdir);
  return instanceId;
}

/**
 * The partitions to copy by block, each a mounted partition of its own. Excludes cannot apply to a
 * block copy, so a disk with user excludes is refused (Config.BlockWithExcludes), as the seed says.
 */
async function blockSources(prepared: PreparedMigration): Promise<BlockSource[]> {
  const { config, excludes } = prepared;
  const out: BlockSource[] = [];
  for (const mountPoint of config.settings.block_replication) {
    const disk = config.settings.data_disks.find((d) => d.src_path === mountPoint);
    const defaults = new Set<string>(mountPoint === "/" ? [...DEFAULT_LINUX_EXCLUDES, ...config.settings.data_disks.map((d) => `${d.src_path}/*`)] : ["lost+found/*"]);
    const user = (mountPoint === "/" ? excludes.system : (excludes.dataDisks[disk?.data_disk_index ?? -1] ?? [])).filter((e) => !defaults.has(e));
    if (user.length > 0) {
      throw new HoistError("Config.BlockWithExcludes", `${mountPoint} is copied by block, which cannot leave files out, but its exclude file lists ${user.length} pattern(s) (${user.slice(0, 3).join(", ")})`, {
        fix: `Empty ${mountPoint === "/" ? "Excludes/rsync_excludes_linux.txt" : `Excludes/rsync_excludes_linux_disk${disk?.data_disk_index}.txt`}, or copy ${mountPoint} by file.`,
      });
    }
    out.push(await describeBlockSource(mountPoint, join(config.sourceRoot, mountPoint)));
  }
  return out;
}

function planSettings(prepared: PreparedMigration, inventory: SourceInventory, blocks: BlockSource[] = []): PlanSettings {
  const s = prepared.config.settings;
  return {
    blockPartitions: blocks.map((b) => ({ mountPoint: b.mountPoint, sourceBytes: b.sourceBytes, fs: b.fs, uuid: b.uuid })),
    ...(s.boot_mode === "auto" ? {} : { bootMode: s.boot_mode }),
    systemDiskGiB: s.system_disk_size,
    fs: s.filesystem,
    lvm: s.lvm,
    separateBoot: s.separate_boot,
    dataDisks: s.data_disks.map((d) => {
      // The inventory measured each data disk's folder inside the source root.
      const usedBytes = inventory.paths.find((p) => p.path === join(prepared.config.sourceRoot, d.src_path))?.usedBytes ?? 0;
      // A block copy keeps the partition's size, so the default disk holds the whole source partition.
      const blockBytes = blocks.find((b) => b.mountPoint === d.src_path)?.sourceBytes ?? 0;
      return {
        index: d.data_disk_index,
        sizeGiB: d.data_disk_size ?? Math.max(20, Math.ceil((usedBytes * 1.2) / 2 ** 30) + 1, Math.ceil((blockBytes + 2 ** 21) / 2 ** 30)),
        srcPath: d.src_path,
        usedBytes,
      };
    }),
  };
}

export async function runMigration(options: MigrateRunOptions): Promise<MigrateOutcome> {
  const { prepared, provider, log, progress } = options;
  const say = options.say ?? (() => undefined);
  const { config } = prepared;
  const settings = config.settings;
  const workdir = config.workdir;
  const secrets = options.secrets ?? [];
  const region = settings.region_id;

  let { data, resumed } = resumeOrStart(workdir, settings);
  if (data.stage === "Finished") {
    say(`The migration recorded in client_data already finished: image ${data.imageName}. Run with --cleardata to start a new one.`);
    return { imageName: data.imageName, result: "already-finished", verified: false };
  }
  const save = () => {
    data = saveClientData(workdir, data, secrets);
  };

  // --- PrepareForRsync: inventory, plan, intermediate instance, target disks.
  progress.stage("PrepareForRsync", resumed ? "Resuming the migration recorded in client_data." : "Preparing the migration.");
  const srcPaths = settings.data_disks.map((d) => join(config.sourceRoot, d.src_path));
  const inventory = await collectInventory(config.sourceRoot, {
    ...(settings.boot_mode === "auto" ? {} : { bootMode: settings.boot_mode }),
    paths: srcPaths,
    ...(options.copyOnly ? { copyOnly: true } : {}),
  });
  log.info("inventory", { os: inventory.os, bootMode: inventory.bootMode, usedBytes: inventory.usedBytes });
  const blocks = await blockSources(prepared);
  const planned = planSettings(prepared, inventory, blocks);
  const plan: TargetPlan = makePlan(inventory, planned);
  if (planned.lvm && !plan.lvm) {
    const why = lvmFallbackReason(inventory, planned) ?? "the source cannot activate LVM";
    log.warn("LVM re-layout does not take effect; plain partitions instead", { reason: why });
    say(`Warning: LVM re-layout does not take effect because ${why}; the target disks get plain partitions.`);
  }
  log.info("plan", { bootMode: plan.bootMode, disks: plan.disks.map((d) => ({ key: d.key, sizeGiB: d.sizeGiB, usedBytes: d.usedBytes })) });

  const ours = data.imageId === settings.image_name;
  if (!ours && (await provider.imageExists(settings.image_name, region))) {
    throw new HoistError("Image.NameExists", `an image named ${settings.image_name} already exists in region ${region}`, {
      fix: "Choose another image_name (or --imagename), or delete the old image with hoist image rm.",
    });
  }

  let instance: IntermediateInstance | null = null;
  if (data.intermediateInstance) {
    instance = await provider.findIntermediateInstance(data.intermediateInstance.instanceId);
    if (!instance) {
      // Seed 000 (v1.5.0): an intermediate instance released by mistake is replaced, not a dead end.
      // Its disks went with it, so the new one gets a new job and the copy starts over.
      const gone = data.intermediateInstance.instanceId;
      log.warn("the intermediate instance recorded in client_data no longer exists; starting a new one", { instanceId: gone });
      say(`Intermediate instance ${gone} no longer exists (released?). Starting a new one and copying again.`);
      data = { ...data, intermediateInstance: null, jobId: null, stage: "PrepareForRsync", disks: data.disks.map((d) => ({ ...d, state: "pending" as const, bytesDone: 0 })) };
      save();
    }
  }
  if (!instance) {
    instance = await provider.createIntermediateInstance({ region, label: settings.image_name, plan, inventory });
    data = { ...data, intermediateInstance: { provider: provider.name, instanceId: instance.instanceId, host: instance.host, controlPort: instance.controlPort, dataPort: instance.dataPort, fingerprint: instance.fingerprint } };
    save();
    say(`Intermediate instance ${instance.instanceId} is running.`);
  }
  // A restarted receiver may listen on new ports; keep client_data current.
  data = { ...data, intermediateInstance: { provider: provider.name, instanceId: instance.instanceId, host: instance.host, controlPort: instance.controlPort, dataPort: instance.dataPort, fingerprint: instance.fingerprint } };
  secrets.push(instance.adminToken);

  const endpoint = { host: instance.host, port: instance.controlPort, fingerprint: instance.fingerprint };
  let token = data.jobId ? loadClientToken(workdir) : null;
  if (!data.jobId || !token) {
    const admin = createControlClient({ ...endpoint, token: instance.adminToken });
    const created = await admin.json<{ jobId: string; token: string }>("POST", "/v1/jobs", { plan, label: settings.image_name });
    token = created.token;
    saveClientToken(workdir, token);
    data = { ...data, jobId: created.jobId };
    save();
  }
  secrets.push(token);
  const jobId = data.jobId!;
  const job = createControlClient({ ...endpoint, token, timeoutMs: 30 * 60_000 });
  await job.json("POST", `/v1/jobs/${jobId}/prepare`, {});
  save();

  // --- DoRsync: each disk's tree through TLS into its target filesystem.
  data = { ...data, stage: "DoRsync" };
  save();
  progress.stage("DoRsync", `Copying ${plan.disks.length} disk(s) to the intermediate instance.`);
  const totalBytes = plan.disks.reduce((n, d) => n + d.usedBytes, 0);
  let doneBefore = 0;
  let vanished = false;
  const changedDuringCopy: DiskSourceChanges[] = [];
  for (const disk of plan.disks) {
    const key = clientKey(disk.key);
    const source = disk.key === "system" ? config.sourceRoot : join(config.sourceRoot, disk.sourcePath);
    const index = disk.key === "system" ? 0 : Number(disk.key.slice(4));
    const excludes = disk.key === "system" ? prepared.excludes.system : (prepared.excludes.dataDisks[index] ?? []);
    if (data.disks.some((d) => d.key === key)) data = updateDisk(data, key, { state: "copying" });
    save();
    // Block partitions first: a block copy swaps the partition's filesystem, and file copies land inside the mounted disk.
    let blockBytes = 0;
    for (const part of disk.partitions.filter((p) => p.replication === "block")) {
      const src = blocks.find((b) => b.mountPoint === part.mountPoint);
      if (!src) throw new HoistError("Plan.InvalidBlockPartition", `no source partition for block partition ${part.mountPoint}`);
      say(`Copying ${part.mountPoint} (${src.device}) by block.`);
      const r = await transferPartitionBlocks({
        source: src.device,
        receiver: { host: instance.host, dataPort: instance.dataPort, fingerprint: instance.fingerprint },
        jobId,
        token,
        partition: part.key,
        compression: settings.compression_level,
        bandwidthKBps: settings.bandwidth_limit,
        logger: log.child({ disk: disk.key }),
        onProgress: (p) => progress.bytes(doneBefore + blockBytes + p.bytesDone, Math.max(totalBytes, doneBefore + blockBytes + p.bytesTotal)),
      });
      log.info("partition copied by block", { partition: part.key, usedBytes: r.usedBytes, bytesSent: r.bytesSent, consistency: r.consistency, check: r.finished.check, grown: r.finished.grown });
      blockBytes += r.usedBytes;
    }
    if (disk.partitions.every((p) => p.replication === "block")) {
      doneBefore += blockBytes;
      if (data.disks.some((d) => d.key === key)) data = updateDisk(data, key, { state: "done", bytesDone: blockBytes, bytesTotal: blockBytes });
      save();
      continue;
    }
    const result = await transferTree({
      source,
      receiver: { host: instance.host, dataPort: instance.dataPort, fingerprint: instance.fingerprint },
      jobId,
      token,
      module: disk.key,
      streams: settings.parallel_streams,
      bandwidthKBps: settings.bandwidth_limit,
      compression: settings.compression_level,
      checksum: settings.checksum,
      excludes,
      stateFile: join(workdir, `.transfer_${disk.key}.json`),
      logger: log.child({ disk: disk.key }),
      onProgress: (p) => progress.bytes(doneBefore + p.bytesDone, Math.max(totalBytes, doneBefore + p.bytesTotal)),
    });
    vanished ||= result.vanishedFiles;
    const changes = diskSourceChanges(disk.key, disk.key === "system" ? "/" : disk.sourcePath, result.changes);
    changedDuringCopy.push(changes);
    log.info("what changed on the source during the copy", { disk: disk.key, appeared: changes.appeared, vanished: changes.vanished, changed: changes.changed, paths: changes.paths });
    doneBefore += result.bytesTotal;
    if (data.disks.some((d) => d.key === key)) data = updateDisk(data, key, { state: "done", bytesDone: result.bytesTotal, bytesTotal: result.bytesTotal });
    save();
    log.info("disk copied", { disk: disk.key, bytes: result.bytesTotal, ms: result.durationMs, streams: result.streams });
  }
  const moved = changedDuringCopy.filter((c) => c.appeared + c.vanished + c.changed > 0);
  for (const c of moved) {
    say(`Changed on the source during the copy of ${c.disk}: ${sourceChangesSummary(c)}.`);
    for (const p of c.paths.slice(0, 10)) say(`  ${p.change.padEnd(9)} ${p.path}${p.dir ? "/" : ""}`);
    if (c.paths.length > 10) say(`  … ${c.paths.length - 10} more named in the log`);
  }
  if (vanished || moved.length) say("The source changed during the copy; run hoist migrate again to bring the target up to date.");
  if (options.copyOnly) {
    say(`Copied. The target disks stay on intermediate instance ${instance.instanceId}; run again to re-sync, or without --copy-only to make the image.`);
    return { imageName: settings.image_name, result: "copied", verified: false, changedDuringCopy };
  }

  // --- CreateImage: make it bootable, turn the disks into an image, prove it boots.
  data = { ...data, stage: "CreateImage" };
  save();
  progress.stage("CreateImage", "Converting the copy for the new hypervisor.");
  const converted = await job.json<{ report: unknown }>("POST", `/v1/jobs/${jobId}/convert`, { inventory });
  const detached = await job.json<{ disks: { key: string; rawPath: string; sizeBytes: number }[] }>("POST", `/v1/jobs/${jobId}/detach`, {});
  if (ours && (await provider.imageExists(settings.image_name, region))) await provider.deleteImage(settings.image_name, region);
  data = { ...data, imageId: settings.image_name };
  save();
  say(`Creating image ${settings.image_name}.`);
  await provider.createImage({ name: settings.image_name, instanceId: instance.instanceId, region, disks: detached.disks, plan, inventory, conversion: converted.report, verify: options.verify ?? true });

  let bootSeconds: number | undefined;
  const verify = options.verify ?? true;
  if (verify) {
    say(`Booting image ${settings.image_name} to prove it works (this takes a few minutes without KVM).`);
    const v = await provider.verifyImage(settings.image_name, region, { timeoutSeconds: options.verifyTimeoutSeconds ?? 900 });
    if (v.status !== "booted" || v.mountedAll !== true) {
      throw new HoistError("Image.VerifyFailed", `image ${settings.image_name} did not boot to multi-user with all filesystems mounted: ${v.reason ?? "unknown reason"}`, {
        fix: `Read the console log ${v.consoleLog ?? ""} and run hoist image check ${settings.image_name}. The intermediate instance is kept; fix the cause and run hoist migrate again.`,
        details: { reachedMultiUser: v.reachedMultiUser, mountedAll: v.mountedAll },
      });
    }
    bootSeconds = v.bootSeconds;
    say(`Image ${settings.image_name} booted to multi-user in ${Math.round(v.bootSeconds ?? 0)} s with all filesystems mounted.`);
  }

  // --- Clean up: the intermediate instance goes away only on success.
  await provider.releaseIntermediateInstance(instance.instanceId);
  data = { ...data, stage: "Finished" };
  save();
  return { imageName: settings.image_name, result: "finished", verified: verify, changedDuringCopy, ...(bootSeconds === undefined ? {} : { bootSeconds }) };
}

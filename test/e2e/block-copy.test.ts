// Block-level replication end to end: real ext4 and xfs filesystems in disk
// images on loop devices, a real `hoist receiver` process with the disk
// backend, copies through the data port's block sessions. Each copy is
// mounted on the target side, checked with the filesystem's own fsck, and
// compared file by file with the source by an independent comparer.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { appendFileSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { type BlockTransferOptions, type BlockTransferResult, transferPartitionBlocks } from "@hoist/agent";
import { readJobState } from "@hoist/images";
import { BLOCK_CODEC, BLOCK_RECORD, type CreateJobResponse, type TargetPlan } from "@hoist/protocol";
import { createLogger } from "@hoist/runtime";
import { connectPinned, createControlClient, encodeChunkHead, encodeFrame, encodeVerifyList, RecordReader, readFrame, writeJsonRecord, writeRecord } from "@hoist/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseEverythingUnder } from "../helpers/cleanup";
import { type ReceiverProcess, startReceiverProcess } from "../helpers/receiver";
import { bundleRunner } from "../helpers/build";
import { buildFidelityTree, compareTrees } from "../helpers/tree";

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const base = mkdtempSync("/var/tmp/hoist-block-copy-");
const stateDir = join(base, "receiver-state");

let receiver: ReceiverProcess;
let runnerPath: string;
const jobs: CreateJobResponse[] = [];

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

interface SourceFs {
  image: string;
  device: string;
  mount: string;
  fs: "ext4" | "xfs";
  uuid: string;
  bytes: number;
}

/** A filesystem in a disk-image file on its own loop device, mounted. */
function makeSource(name: string, fs: "ext4" | "xfs", bytes: number): SourceFs {
  const image = join(base, `${name}.img`);
  writeFileSync(image, "");
  sh("truncate", ["-s", String(bytes), image]);
  if (fs === "ext4") sh("mkfs.ext4", ["-F", "-q", image]);
  else sh("mkfs.xfs", ["-f", "-q", image]);
  const device = sh("losetup", ["--find", "--show", image]).trim();
  const mount = join(base, `${name}-src`);
  mkdirSync(mount);
  sh("mount", [device, mount]);
  const uuid = sh("blkid", ["-p", "-o", "value", "-s", "UUID", device]).trim();
  return { image, device, mount, fs, uuid, bytes };
}

/** Fidelity tree (owners, modes, links, xattrs, ACLs, devices, odd names) plus random files of `dataMiB`. */
function fillSource(src: SourceFs, dataMiB: number): void {
  buildFidelityTree(join(src.mount, mkdirP(src.mount, "tree")));
  for (let i = 0; i * 16 < dataMiB; i++) writeFileSync(join(src.mount, `blob-${i}.bin`), randomBytes(Math.min(16, dataMiB - i * 16) * MiB));
  sh("sync", []);
}

function mkdirP(parent: string, name: string): string {
  mkdirSync(join(parent, name), { recursive: true });
  return name;
}

function planFor(src: SourceFs, diskGiB: number): TargetPlan {
  return {
    bootMode: "bios",
    lvm: false,
    disks: [
      {
        key: "disk1",
        sizeGiB: diskGiB,
        table: "mbr",
        partitions: [{ key: "disk1-p1", role: "data", mountPoint: "/srv", fs: src.fs, sizeMiB: null, uuid: src.uuid, replication: "block", sourceBytes: src.bytes }],
        sourcePath: "/srv",
        usedBytes: 0,
      },
    ],
  };
}

interface Job extends CreateJobResponse {
  target: string;
  jobDir: string;
}

async function newJob(src: SourceFs, diskGiB = 1): Promise<Job> {
  const token = readFileSync(join(stateDir, "admin.token"), "utf8").trim();
  const admin = createControlClient({ host: "127.0.0.1", port: receiver.ready.controlPort, fingerprint: receiver.ready.fingerprint, token });
  const job = await admin.json<CreateJobResponse>("POST", "/v1/jobs", { plan: planFor(src, diskGiB), label: "block-copy" });
  jobs.push(job);
  const prepared = await client(job).json<{ disks: { key: string; mountPath: string }[] }>("POST", `/v1/jobs/${job.jobId}/prepare`);
  return { ...job, target: prepared.disks[0]!.mountPath, jobDir: join(stateDir, "jobs", job.jobId) };
}

function client(job: CreateJobResponse) {
  return createControlClient({ host: "127.0.0.1", port: receiver.ready.controlPort, fingerprint: receiver.ready.fingerprint, token: job.token });
}

function options(src: SourceFs, job: CreateJobResponse, extra: Partial<BlockTransferOptions> = {}): BlockTransferOptions {
  return {
    ...(process.env.BLOCK_TEST_LOG ? { logger: createLogger({ file: process.env.BLOCK_TEST_LOG }) } : {}),
    source: src.device,
    receiver: { host: "127.0.0.1", dataPort: receiver.ready.dataPort, fingerprint: receiver.ready.fingerprint },
    jobId: job.jobId,
    token: job.token,
    partition: "disk1-p1",
    ...extra,
  };
}

function targetDevice(job: Job): string {
  return readJobState(job.jobDir).disks.disk1?.partitions["disk1-p1"]?.loop ?? "";
}

/** fsck of the target, unmounted, without changing anything; mounted again afterwards. */
function fsckTarget(job: Job, fs: "ext4" | "xfs"): { code: number; output: string } {
  const dev = targetDevice(job);
  sh("umount", [job.target]);
  // Drop the device's page cache: reads made before the last mount (the receiver's verification,
  // its own check) must not hide what the filesystem wrote since.
  sh("blockdev", ["--flushbufs", dev]);
  try {
    const r = fs === "ext4" ? spawnResult("e2fsck", ["-f", "-n", dev]) : spawnResult("xfs_repair", ["-n", dev]);
    return r;
  } finally {
    sh("mount", ...[fs === "xfs" ? ["-o", "nouuid", dev, job.target] : [dev, job.target]]);
  }
}

function spawnResult(cmd: string, args: string[]): { code: number; output: string } {
  try {
    return { code: 0, output: execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }) };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { code: err.status ?? 1, output: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

/** Runs a block transfer in its own process (the agent), so it can be killed with SIGKILL. */
function startAgent(o: BlockTransferOptions): { proc: ChildProcess; sent: () => number; result: Promise<{ done?: boolean; error?: string; result?: BlockTransferResult }> } {
  const { logger: _inProcessOnly, ...plain } = o;
  const proc = spawn(process.execPath, [runnerPath], { env: { ...process.env, RUNNER_OPTS: JSON.stringify(plain) }, stdio: ["ignore", "pipe", "inherit"] });
  let sent = 0;
  let last: { done?: boolean; error?: string; result?: BlockTransferResult } = {};
  createInterface({ input: proc.stdout! }).on("line", (l) => {
    const msg = JSON.parse(l) as { bytesSent?: number; done?: boolean; error?: string; result?: BlockTransferResult };
    if (msg.bytesSent !== undefined && !msg.done) sent = msg.bytesSent;
    else last = msg;
  });
  const result = new Promise<{ done?: boolean; error?: string; result?: BlockTransferResult }>((r) => proc.once("close", () => r(last)));
  return { proc, sent: () => sent, result };
}

/** Chunks a receiver's manifest knows the target holds (a non-zero hash after the 32-byte header). */
function heldChunks(manifestPath: string): number {
  const hashes = readFileSync(manifestPath).subarray(32);
  let n = 0;
  for (let i = 0; i + 32 <= hashes.length; i += 32) if (hashes.subarray(i, i + 32).some((b) => b !== 0)) n++;
  return n;
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  runnerPath = join(base, "block-runner.mjs");
  await bundleRunner(
    `import { transferPartitionBlocks } from "@hoist/agent";
const o = JSON.parse(process.env.RUNNER_OPTS);
try {
  const result = await transferPartitionBlocks({ ...o, onProgress: (p) => process.stdout.write(JSON.stringify(p) + "\\n") });
  process.stdout.write(JSON.stringify({ done: true, result }) + "\\n");
} catch (e) {
  process.stdout.write(JSON.stringify({ error: e.code, message: e.message }) + "\\n");
  process.exitCode = 1;
}`,
    runnerPath,
  );
  receiver = await startReceiverProcess(stateDir, { logLevel: process.env.BLOCK_TEST_LOG ? "info" : "warn" });
});

afterAll(async () => {
  for (const job of [...jobs]) await client(job).json("DELETE", `/v1/jobs/${job.jobId}`).catch((e: unknown) => console.error(`could not release ${job.jobId}:`, e));
  await receiver?.stop();
  releaseEverythingUnder(base, join(base, "no-hoist-home"));
});

describe("block copy", () => {
  for (const fs of ["ext4", "xfs"] as const) {
    it(`copies a live ${fs} partition with mixed data by block: mountable, fsck clean, tree equal, grown to its target partition`, async () => {
      const src = makeSource(`mixed-${fs}`, fs, 512 * MiB);
      fillSource(src, 120);
      const job = await newJob(src, 1);
      const progress: number[] = [];
      const r = await transferPartitionBlocks(options(src, job, { compression: 1, onProgress: (p) => progress.push(p.bytesDone) }));
      expect(r.fs).toBe(fs);
      expect(r.allocation).toBe(fs === "ext4" ? "ext-bitmap" : "xfs-freesp");
      // The source is mounted read-write: live passes, then a last pass under fsfreeze, and thawed after.
      expect(r.consistency).toBe("frozen");
      expect(r.finished).toMatchObject({ check: "clean", grown: true, mounted: true });
      // Used data only: each pass read far less than the 512 MiB partition.
      expect(r.usedBytes).toBeGreaterThan(120 * MiB);
      expect(r.usedBytes).toBeLessThan(300 * MiB);
      expect(r.bytesReadLastPass).toBeLessThanOrEqual(r.usedBytes * 1.1 + 16 * MiB);
      expect(r.bytesRead).toBeLessThanOrEqual(r.passes * 300 * MiB);
      expect(progress.at(-1)).toBeGreaterThan(100 * MiB);
      expect(compareTrees(src.mount, job.target)).toEqual([]);
      // Thawed: the source takes writes again.
      writeFileSync(join(src.mount, "tree", "after-copy"), "writable again\n");
      const df = sh("df", ["-B1", "--output=size", job.target]).split("\n")[1]?.trim();
      expect(Number(df)).toBeGreaterThan(900 * MiB);
      const check = fsckTarget(job, fs);
      expect(check.code, check.output).toBe(0);
    });
  }

  it("an incremental sync after a few files changed sends only a few chunks", async () => {
    const src = makeSource("incr", "ext4", 512 * MiB);
    fillSource(src, 160);
    const job = await newJob(src, 1);
    const first = await transferPartitionBlocks(options(src, job));
    expect(first.bytesSent).toBeGreaterThan(150 * MiB);
    const again = await transferPartitionBlocks(options(src, job));
    // Nothing changed: only the few chunks of metadata that mounting and growing touched go again.
    expect(again.bytesSent).toBeLessThan(32 * MiB);
    expect(again.chunksSent).toBeLessThanOrEqual(8);
    writeFileSync(join(src.mount, "tree", "etc", "hostname"), "changed-host\n");
    appendFileSync(join(src.mount, "blob-3.bin"), randomBytes(100_000));
    writeFileSync(join(src.mount, "new-file.bin"), randomBytes(2 * MiB));
    sh("sync", []);
    const changed = await transferPartitionBlocks(options(src, job));
    expect(changed.bytesSent).toBeLessThan(48 * MiB);
    expect(changed.chunksSent).toBeLessThanOrEqual(12);
    expect(compareTrees(src.mount, job.target)).toEqual([]);
  });

  it("resumes after SIGKILL of the agent and of the receiver, sending again at most the chunks that were in flight", async () => {
    const src = makeSource("resume", "ext4", 1024 * MiB);
    fillSource(src, 400);
    sh("umount", [src.mount]);
    const job = await newJob(src, 2);
    // Copy-only settings that make the copy take a few seconds: no compression, 60 MB/s.
    const slow = { compression: 0, bandwidthKBps: 60_000 };
    // In flight at a kill: the receiver's read queue (64 MiB) and its chunk workers, and the sockets' buffers.
    const inFlight = 104 * MiB;

    const a = startAgent(options(src, job, slow));
    await until(() => a.sent() > 100 * MiB, 60_000);
    a.proc.kill("SIGKILL");
    await a.result;
    const sentByAgent = a.sent();

    const b = startAgent(options(src, job, slow));
    await until(() => b.sent() > 80 * MiB, 60_000);
    await receiver.stop("SIGKILL");
    const r2 = await b.result;
    expect(r2.error).toMatch(/^Transport\./);
    const sentBeforeReceiverDied = b.sent();
    // What the dead receiver kept, from its own manifest (a chunk's hash is written right after the chunk).
    const manifest = join(job.jobDir, "block", "disk1-p1.manifest");
    const held = heldChunks(manifest);
    receiver = await startReceiverProcess(stateDir, { logLevel: process.env.BLOCK_TEST_LOG ? "info" : "warn" });

    const c = await transferPartitionBlocks(options(src, job, { compression: 0 }));
    expect(c.consistency).toBe("unmounted");
    expect(c.finished.check).toBe("clean");
    // The last run sends exactly the chunks the receiver did not hold, and it held most of what the killed runs sent.
    expect(c.chunksSent).toBeLessThanOrEqual(heldChunks(manifest) - held);
    expect(held * 4 * MiB).toBeGreaterThan(sentByAgent + sentBeforeReceiverDied - 2 * inFlight);
    // What the three runs sent together is one copy plus what was in flight at each kill.
    const oneCopy = c.usedBytes + 16 * MiB;
    expect(c.bytesSent).toBeLessThan(oneCopy - sentByAgent - sentBeforeReceiverDied + 2 * inFlight);
    const mnt = join(base, "resume-src");
    sh("mount", ["-o", "ro", src.device, mnt]);
    expect(compareTrees(mnt, job.target)).toEqual([]);
  });

  it("reads and sends about the used gigabyte of a mostly empty 20 GiB ext4 partition", async () => {
    const src = makeSource("sparse20", "ext4", 20 * GiB);
    for (let i = 0; i < 64; i++) writeFileSync(join(src.mount, `part-${i}.bin`), randomBytes(16 * MiB));
    sh("umount", [src.mount]);
    const job = await newJob(src, 21);
    const r = await transferPartitionBlocks(options(src, job, { compression: 0 }));
    expect(r.sourceBytes).toBe(20 * GiB);
    expect(r.bytesRead).toBeGreaterThan(GiB);
    // The data, the 128 MiB journal and the group metadata.
    expect(r.bytesRead).toBeLessThan(1.25 * GiB);
    expect(r.bytesSent).toBeGreaterThan(GiB);
    expect(r.bytesSent).toBeLessThan(1.15 * GiB);
    // Uncompressed, a chunk only partly in use (group metadata) sends its used ranges, not 4 MiB.
    expect(r.bytesSent).toBeLessThanOrEqual(r.bytesRead + r.chunksSent * 1024);
    // The target partition stays sparse where nothing was sent.
    const raw = readJobState(job.jobDir).disks.disk1?.rawPath ?? "";
    expect(Number(sh("du", ["-B1", "--summarize", raw]).split("\t")[0])).toBeLessThan(1.4 * GiB);
    expect(r.finished).toMatchObject({ check: "clean", grown: true });
    const sizes = sh("df", ["-B1", "--output=size,used", job.target]).split("\n")[1]?.trim().split(/\s+/).map(Number) ?? [];
    expect(sizes[0]).toBeGreaterThan(20 * GiB);
    expect(sizes[1]).toBeGreaterThan(GiB);
  });

  it("refuses chunks outside the partition, a source larger than the target, and a partition the plan does not copy by block", async () => {
    const src = makeSource("bounds", "ext4", 64 * MiB);
    const job = await newJob(src, 1);
    const session = async (partition: string, sourceBytes: number, chunkOffset?: number): Promise<string> => {
      const socket = await connectPinned({ host: "127.0.0.1", port: receiver.ready.dataPort, fingerprint: receiver.ready.fingerprint });
      try {
        socket.write(encodeFrame({ v: 1, jobId: job.jobId, token: job.token, kind: "block", partition }));
        const { value, rest } = await readFrame(socket, { timeoutMs: 30_000 });
        const reply = value as { ok: boolean; code?: string };
        if (!reply.ok) return reply.code ?? "";
        const reader = new RecordReader(socket, rest, 64 * MiB);
        await writeJsonRecord(socket, BLOCK_RECORD.hello, { sourceBytes, chunkBytes: 4 * MiB, fs: "ext4" });
        let rec = await reader.next(30_000);
        if (rec?.type === BLOCK_RECORD.manifest && chunkOffset !== undefined) {
          await writeRecord(socket, BLOCK_RECORD.chunk, encodeChunkHead({ offset: chunkOffset, rawLength: 4 * MiB, codec: BLOCK_CODEC.zero, hash: Buffer.alloc(32) }));
          rec = await reader.next(30_000);
        }
        return rec?.type === BLOCK_RECORD.error ? (JSON.parse(rec.payload.toString("utf8")) as { code: string }).code : `record ${rec?.type}`;
      } finally {
        socket.destroy();
      }
    };
    // Past the last chunk of the source, and not on a chunk boundary.
    expect(await session("disk1-p1", 64 * MiB, 64 * MiB)).toBe("Block.OutOfBounds");
    expect(await session("disk1-p1", 64 * MiB, 3 * MiB)).toBe("Block.OutOfBounds");
    expect(await session("disk1-p1", 4 * GiB)).toBe("Block.TargetTooSmall");
    expect(await session("disk9-p1", 64 * MiB)).toBe("Receiver.NotBlockPartition");
    // Nothing was written: the target still reads as zeros where the chunk would have gone.
    const head = Buffer.alloc(4096);
    const fd = openSync(targetDevice(job), "r");
    try {
      readSync(fd, head, 0, 4096, 0);
    } finally {
      closeSync(fd);
    }
    expect(head.equals(Buffer.alloc(4096))).toBe(true);
  });

  it("a chunk whose announced hash does not match its bytes is caught by the receiver's re-read and named for sending again", async () => {
    const src = makeSource("lying-hash", "ext4", 64 * MiB);
    const job = await newJob(src, 1);
    const socket = await connectPinned({ host: "127.0.0.1", port: receiver.ready.dataPort, fingerprint: receiver.ready.fingerprint });
    try {
      socket.write(encodeFrame({ v: 1, jobId: job.jobId, token: job.token, kind: "block", partition: "disk1-p1" }));
      const { value, rest } = await readFrame(socket, { timeoutMs: 30_000 });
      expect(value).toMatchObject({ ok: true });
      const reader = new RecordReader(socket, rest, 64 * MiB);
      await writeJsonRecord(socket, BLOCK_RECORD.hello, { sourceBytes: 64 * MiB, chunkBytes: 4 * MiB, fs: "ext4" });
      expect((await reader.next(30_000))?.type).toBe(BLOCK_RECORD.manifest);
      const sha = (b: Buffer) => createHash("sha256").update(b).digest();
      const honest = randomBytes(4 * MiB);
      const sent = randomBytes(4 * MiB);
      // Chunk 1 is what it claims; chunk 2's bytes are not what its hash says.
      await writeRecord(socket, BLOCK_RECORD.chunk, encodeChunkHead({ offset: 4 * MiB, rawLength: 4 * MiB, codec: BLOCK_CODEC.raw, hash: sha(honest) }), honest);
      await writeRecord(socket, BLOCK_RECORD.chunk, encodeChunkHead({ offset: 8 * MiB, rawLength: 4 * MiB, codec: BLOCK_CODEC.raw, hash: sha(honest) }), sent);
      await writeRecord(socket, BLOCK_RECORD.verify, encodeVerifyList([{ index: 1, hash: sha(honest) }, { index: 2, hash: sha(honest) }]));
      const rec = await reader.next(60_000);
      expect(rec?.type).toBe(BLOCK_RECORD.verified);
      expect(JSON.parse(rec?.payload.toString("utf8") ?? "{}")).toEqual({ checked: 2, mismatched: [2], mismatchedCount: 1 });
    } finally {
      socket.destroy();
    }
    // The manifest now holds what the target really has there, so a later sync sends chunk 2 again.
    const onTarget = Buffer.alloc(4 * MiB);
    const fd = openSync(targetDevice(job), "r");
    try {
      readSync(fd, onTarget, 0, onTarget.length, 8 * MiB);
    } finally {
      closeSync(fd);
    }
    const manifest = readFileSync(join(job.jobDir, "block", "disk1-p1.manifest")).subarray(32);
    expect(manifest.subarray(64, 96).equals(createHash("sha256").update(onTarget).digest())).toBe(true);
  });

  it("a new session of the job takes a partition over from one whose agent went silent", async () => {
    const src = makeSource("takeover", "ext4", 64 * MiB);
    fillSource(src, 8);
    sh("umount", [src.mount]);
    const job = await newJob(src, 1);
    // An agent that opened the session and then vanished without closing its connection.
    const stale = await connectPinned({ host: "127.0.0.1", port: receiver.ready.dataPort, fingerprint: receiver.ready.fingerprint });
    const closed = new Promise<void>((r) => stale.once("close", () => r()));
    stale.on("error", () => undefined);
    stale.write(encodeFrame({ v: 1, jobId: job.jobId, token: job.token, kind: "block", partition: "disk1-p1" }));
    const { value, rest } = await readFrame(stale, { timeoutMs: 30_000 });
    expect(value).toMatchObject({ ok: true });
    await writeJsonRecord(stale, BLOCK_RECORD.hello, { sourceBytes: 64 * MiB, chunkBytes: 4 * MiB, fs: "ext4" });
    expect((await new RecordReader(stale, rest, 64 * MiB).next(30_000))?.type).toBe(BLOCK_RECORD.manifest);

    const r = await transferPartitionBlocks(options(src, job));
    expect(r.finished.check).toBe("clean");
    await closed;
    const mnt = join(base, "takeover-src");
    sh("mount", ["-o", "ro", src.device, mnt]);
    expect(compareTrees(mnt, job.target)).toEqual([]);
  });
});


// Block copy of one ext4 partition, three ways, in the same run and on the
// same source: hoist's block transfer (agent → receiver over TLS, used blocks
// only, hashed and optionally compressed in worker threads), partclone.ext4
// piped into a partclone restore, and dd | zstd -1 | zstd -d | dd. Every
// contender writes into a fresh sparse target of the same size, and its time
// ends when that target is synced to disk (as hoist's receiver does). Printed per
// case (half-used, full): wall time, bytes that crossed the "wire" (the pipe
// or the TLS connection), CPU seconds of every process involved, and the
// plain sequential read speed of the source (dd to /dev/null) as the ceiling.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { transferPartitionBlocks } from "@hoist/agent";
import type { CreateJobResponse, ReceiverReady, TargetPlan } from "@hoist/protocol";
import { createControlClient } from "@hoist/transport";
import { capture, type Cleanup, sleep, withCleanup } from "./lib/proc";
import { machine, ratio, saveResults, secs, table } from "./lib/report";
import { detachLoop, unmountRetrying } from "./lib/scratch";

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const repo = process.env.HOIST_REPO ?? process.cwd();
const HOIST = join(repo, "apps/hoist/bin/hoist");
const TICK = 100;
// HOIST_BENCH_CPU_PROF=<folder>: the agent and the receiver (and their chunk workers) write V8 CPU profiles there.
const PROF_DIR = process.env.HOIST_BENCH_CPU_PROF;
const profArgs = (name: string): string[] => (PROF_DIR ? ["--cpu-prof", `--cpu-prof-dir=${join(PROF_DIR, name)}`] : []);

// --- the agent side of hoist runs in its own process, so its CPU time is its own
if (process.argv[2] === "--agent-child") {
  const o = JSON.parse(process.env.BENCH_AGENT ?? "{}");
  const result = await transferPartitionBlocks(o);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

interface Row {
  contender: string;
  seconds: number;
  wireBytes: number;
  cpuSeconds: number;
  /** CPU seconds of the whole machine over the run (kernel threads such as the loop devices' workers included). */
  machineCpuSeconds: number;
}

/** Busy CPU seconds of the whole machine so far (/proc/stat: all but idle and iowait). */
function machineCpu(): number {
  const f = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / TICK;
}

/** User and system CPU seconds of a live process (its threads included). */
function cpuOfPid(pid: number): { user: number; sys: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { user: Number(fields[11]) / TICK, sys: Number(fields[12]) / TICK };
  } catch {
    return { user: 0, sys: 0 };
  }
}

/** Runs `cmd` under GNU time; resolves with its CPU seconds (user + system, children included). */
function timedChild(cmd: string, args: string[], stdio: ("pipe" | "ignore")[], dir: string): { child: ChildProcess; cpu: Promise<number> } {
  const out = join(dir, `time-${randomBytes(4).toString("hex")}`);
  const child = spawn("/usr/bin/time", ["-f", "%U %S", "-o", out, cmd, ...args], { stdio: stdio as ["pipe", "pipe", "pipe"] });
  const cpu = new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(" ")} exited with ${code}`));
      const [u, s] = readFileSync(out, "utf8").trim().split("\n").pop()!.split(" ").map(Number);
      resolve((u ?? 0) + (s ?? 0));
    });
  });
  return { child, cpu };
}

/** Pipes a → b, counting the bytes in between (what a network would carry). */
function countedPipe(a: ChildProcess, b: ChildProcess): { bytes: () => number } {
  let n = 0;
  a.stdout!.on("data", (c: Buffer) => {
    n += c.length;
    if (!b.stdin!.write(c)) {
      a.stdout!.pause();
      b.stdin!.once("drain", () => a.stdout!.resume());
    }
  });
  a.stdout!.on("end", () => b.stdin!.end());
  return { bytes: () => n };
}

async function ensureTools(): Promise<void> {
  const missing: string[] = [];
  const have = async (bin: string) => capture("sh", ["-c", 'command -v "$1"', "_", bin]).then(() => true, () => false);
  if (!(await have("partclone.ext4"))) missing.push("partclone");
  if (!(await have("zstd"))) missing.push("zstd");
  if (!existsSync("/usr/bin/time")) missing.push("time");
  if (missing.length) {
    process.stdout.write(`installing ${missing.join(", ")}\n`);
    await capture("apt-get", ["update", "-qq"]);
    await capture("apt-get", ["install", "-y", "-qq", ...missing]);
  }
}

async function attach(file: string, cleanup: Cleanup): Promise<string> {
  const device = (await capture("losetup", ["--find", "--show", file])).trim();
  cleanup.add(`detach ${device}`, () => detachLoop(device));
  return device;
}

async function sparseTarget(dir: string, name: string, bytes: number, cleanup: Cleanup): Promise<string> {
  const file = join(dir, `${name}.raw`);
  writeFileSync(file, "");
  truncateSync(file, bytes);
  cleanup.add(`remove ${file}`, () => rmSync(file, { force: true }));
  return attach(file, cleanup);
}

/** An ext4 partition filled to `fraction` with half random, half compressible (text-like) files. */
async function makeSource(dir: string, bytes: number, fraction: number, cleanup: Cleanup): Promise<{ device: string; used: number }> {
  const file = join(dir, "source.raw");
  writeFileSync(file, "");
  truncateSync(file, bytes);
  cleanup.add(`remove ${file}`, () => rmSync(file, { force: true }));
  await capture("mkfs.ext4", ["-F", "-q", file]);
  const device = await attach(file, cleanup);
  const mnt = join(dir, "source-mnt");
  mkdirSync(mnt, { recursive: true });
  await capture("mount", [device, mnt]);
  const avail = Number((await capture("df", ["-B1", "--output=avail", mnt])).split("\n")[1]?.trim());
  const want = Math.floor(Math.min(avail - 64 * MiB, bytes * fraction));
  const text = Buffer.from(Array.from({ length: 20000 }, (_, i) => `${i} GET /api/v1/items/${i % 977} 200 ${(i * 7919) % 5000}ms "Mozilla/5.0"\n`).join(""));
  let written = 0;
  for (let i = 0; written < want; i++) {
    const size = Math.min(32 * MiB, want - written);
    const body = i % 2 === 0 ? randomBytes(size) : Buffer.concat(Array.from({ length: Math.ceil(size / text.length) }, () => text)).subarray(0, size);
    writeFileSync(join(mnt, `f-${i}.bin`), body);
    written += size;
  }
  await unmountRetrying(mnt);
  const used = Number(/^Block count:\s+(\d+)/m.exec(await capture("dumpe2fs", ["-h", device]))?.[1]) - Number(/^Free blocks:\s+(\d+)/m.exec(await capture("dumpe2fs", ["-h", device]))?.[1]);
  return { device, used: used * 4096 };
}

async function startReceiver(dir: string, cleanup: Cleanup): Promise<{ ready: ReceiverReady; proc: ChildProcess; adminToken: string }> {
  const stateDir = join(dir, "receiver");
  const proc = spawn(process.execPath, [...profArgs("receiver"), HOIST, "receiver", "--state-dir", stateDir, "--control-port", "0", "--data-port", "0", "--listen", "127.0.0.1", "--target-backend", "disk", "--log-level", "warn"], { stdio: ["ignore", "pipe", "inherit"] });
  cleanup.add("stop the receiver", async () => {
    if (proc.exitCode === null) proc.kill("SIGTERM");
    await new Promise((r) => (proc.exitCode === null ? proc.once("exit", r) : r(null)));
  });
  const line = await new Promise<string>((res, rej) => {
    createInterface({ input: proc.stdout! }).once("line", res);
    proc.once("exit", (c) => rej(new Error(`receiver exited with ${c}`)));
  });
  return { ready: JSON.parse(line) as ReceiverReady, proc, adminToken: readFileSync(join(stateDir, "admin.token"), "utf8").trim() };
}

async function hoistCopy(dir: string, receiver: Awaited<ReturnType<typeof startReceiver>>, source: string, sourceBytes: number, compression: number, cleanup: Cleanup): Promise<Row & { read: number; phaseMs: { copy: number; verify: number; finish: number }; cpu: { agentPeakMiB: number; agentUser: number; agentSys: number; receiverUser: number; receiverSys: number } }> {
  const uuid = (await capture("blkid", ["-p", "-o", "value", "-s", "UUID", source])).trim();
  const plan: TargetPlan = {
    bootMode: "bios",
    lvm: false,
    disks: [{ key: "disk1", sizeGiB: Math.ceil(sourceBytes / GiB) + 1, table: "mbr", partitions: [{ key: "disk1-p1", role: "data", mountPoint: "/data", fs: "ext4", sizeMiB: null, uuid, replication: "block", sourceBytes }], sourcePath: "/data", usedBytes: 0 }],
  };
  const endpoint = { host: "127.0.0.1", port: receiver.ready.controlPort, fingerprint: receiver.ready.fingerprint };
  const job = await createControlClient({ ...endpoint, token: receiver.adminToken }).json<CreateJobResponse>("POST", "/v1/jobs", { plan, label: "bench" });
  const client = createControlClient({ ...endpoint, token: job.token });
  let deleted = false;
  cleanup.add(`delete job ${job.jobId}`, async () => {
    if (!deleted) await client.json("DELETE", `/v1/jobs/${job.jobId}`);
  });
  await client.json("POST", `/v1/jobs/${job.jobId}/prepare`, {});
  const options = { source, receiver: { host: "127.0.0.1", dataPort: receiver.ready.dataPort, fingerprint: receiver.ready.fingerprint }, jobId: job.jobId, token: job.token, partition: "disk1-p1", compression, grow: false };
  const receiverCpu = cpuOfPid(receiver.proc.pid ?? 0);
  const machineBefore = machineCpu();
  const started = process.hrtime.bigint();
  const script = process.argv[1] ?? "";
  const agent = spawn("/usr/bin/time", ["-f", "%U %S %M", "-o", join(dir, "agent-time"), process.execPath, ...profArgs(`agent-c${compression}`), script, "--agent-child"], { env: { ...process.env, BENCH_AGENT: JSON.stringify(options) }, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  agent.stdout!.on("data", (c: Buffer) => {
    out += c.toString("utf8");
  });
  const code = await new Promise<number>((r) => agent.once("close", (c) => r(c ?? 1)));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const machineCpuSeconds = machineCpu() - machineBefore;
  if (code !== 0) throw new Error(`the hoist agent exited with ${code}`);
  const [u, s, maxKiB] = readFileSync(join(dir, "agent-time"), "utf8").trim().split("\n").pop()!.split(" ").map(Number);
  const result = JSON.parse(out.trim().split("\n").pop() ?? "{}") as { bytesSent: number; bytesRead: number; phaseMs: { copy: number; verify: number; finish: number } };
  await client.json("DELETE", `/v1/jobs/${job.jobId}`);
  deleted = true;
  const receiverAfter = cpuOfPid(receiver.proc.pid ?? 0);
  const cpu = { agentPeakMiB: (maxKiB ?? 0) / 1024, agentUser: u ?? 0, agentSys: s ?? 0, receiverUser: receiverAfter.user - receiverCpu.user, receiverSys: receiverAfter.sys - receiverCpu.sys };
  return { contender: `hoist block, compression ${compression}`, seconds, wireBytes: result.bytesSent, cpuSeconds: cpu.agentUser + cpu.agentSys + cpu.receiverUser + cpu.receiverSys, machineCpuSeconds, read: result.bytesRead, phaseMs: result.phaseMs, cpu };
}

/**
 * Runs the stages piped into each other. `flushed`: the target file the last stage wrote, synced to
 * disk inside the timed span (hoist's receiver syncs its target before it verifies, so a peer's
 * time must not end while its data still sits in the page cache).
 */
async function pipeline(dir: string, name: string, stages: [string, string[]][], flushed?: string): Promise<Row> {
  const machineBefore = machineCpu();
  const started = process.hrtime.bigint();
  const runs = stages.map(([cmd, args], i) => timedChild(cmd, args, [i === 0 ? "ignore" : "pipe", i === stages.length - 1 ? "ignore" : "pipe", "ignore"], dir));
  // The middle of the pipeline is the wire: count what crosses it.
  const mid = Math.floor((runs.length - 1) / 2);
  let wire: { bytes: () => number } = { bytes: () => 0 };
  for (let i = 0; i + 1 < runs.length; i++) {
    const p = countedPipe(runs[i]!.child, runs[i + 1]!.child);
    if (i === mid) wire = p;
  }
  let cpu = (await Promise.all(runs.map((r) => r.cpu))).reduce((a, b) => a + b, 0);
  if (flushed) {
    const sync = timedChild("sync", [flushed], ["ignore", "ignore", "ignore"], dir);
    cpu += await sync.cpu;
  }
  return { contender: name, seconds: Number(process.hrtime.bigint() - started) / 1e9, wireBytes: wire.bytes(), cpuSeconds: cpu, machineCpuSeconds: machineCpu() - machineBefore };
}

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const sizeGiB = Number(flag("--size-gib") ?? 4) || 4;
// --case half-used|full (default both); --hoist-only skips the peers (for profiling hoist alone).
const cases = ([["half-used", 0.5], ["full", 0.97]] as const).filter(([label]) => !flag("--case") || flag("--case") === label);
const hoistOnly = args.includes("--hoist-only");

await withCleanup(async (cleanup) => {
  await ensureTools();
  const base = mkdtempSync(join(process.env.HOIST_BENCH_TMP ?? "/var/tmp", "hoist-bench-block-"));
  cleanup.add(`remove ${base}`, () => rmSync(base, { recursive: true, force: true }));
  const receiver = await startReceiver(base, cleanup);
  const host = machine("-").replace(/, QEMU -/, "");
  const results: Record<string, unknown> = { machine: host, sizeGiB };
  process.stdout.write(`block copy of a ${sizeGiB} GiB ext4 partition on ${host}\n`);
  for (const [label, fraction] of cases) {
    const dir = join(base, label);
    mkdirSync(dir);
    const bytes = sizeGiB * GiB;
    const src = await makeSource(dir, bytes, fraction, cleanup);
    await capture("sync", []);
    // Warm the page cache the same way for everyone; this read is also the speed ceiling.
    const read = await pipeline(dir, "dd to /dev/null", [["dd", [`if=${src.device}`, "of=/dev/null", "bs=4M"]]]);
    const rows: Row[] = [];
    const hoist0 = await hoistCopy(dir, receiver, src.device, bytes, 0, cleanup);
    rows.push(hoist0);
    for (const compression of [1]) rows.push(await hoistCopy(dir, receiver, src.device, bytes, compression, cleanup));
    if (!hoistOnly) {
      const t1 = await sparseTarget(dir, "partclone", bytes, cleanup);
      rows.push(await pipeline(dir, "partclone.ext4 | partclone restore", [["partclone.ext4", ["-c", "-q", "-s", src.device, "-o", "-"]], ["partclone.ext4", ["-r", "-q", "-s", "-", "-o", t1]]], t1));
      const t2 = await sparseTarget(dir, "dd", bytes, cleanup);
      rows.push(
        await pipeline(dir, "dd | zstd -1 | zstd -d | dd", [
          ["dd", [`if=${src.device}`, "bs=4M", "status=none"]],
          ["zstd", ["-1", "-q", "-c", "-T1"]],
          ["zstd", ["-d", "-q", "-c"]],
          ["dd", [`of=${t2}`, "bs=4M", "conv=sparse", "status=none"]],
        ], t2),
      );
    }
    process.stdout.write(`\n${label}: ${(src.used / GiB).toFixed(2)} GiB used of ${sizeGiB} GiB; dd to /dev/null read it all in ${secs(read.seconds)} s (${((bytes / MiB) / read.seconds).toFixed(0)} MiB/s)\n`);
    process.stdout.write(
      `${table(
        ["contender", "seconds", "sent MiB", "CPU s", "machine CPU s", "time vs hoist c0"],
        rows.map((r) => [r.contender, secs(r.seconds), (r.wireBytes / MiB).toFixed(0), secs(r.cpuSeconds), secs(r.machineCpuSeconds), ratio(r.seconds, hoist0.seconds)]),
      )}\n`,
    );
    process.stdout.write(`hoist c0 reads at ${((src.used / MiB) / hoist0.seconds).toFixed(0)} MiB/s of used data; dd reads the device at ${((bytes / MiB) / read.seconds).toFixed(0)} MiB/s\n`);
    const c = hoist0.cpu;
    process.stdout.write(`hoist c0 CPU: agent ${secs(c.agentUser)} s user + ${secs(c.agentSys)} s system, receiver ${secs(c.receiverUser)} s user + ${secs(c.receiverSys)} s system; the agent's peak RSS ${c.agentPeakMiB.toFixed(0)} MiB\n`);
    const ph = hoist0.phaseMs;
    process.stdout.write(`hoist c0 phases: copy ${secs(ph.copy / 1000)} s (${((src.used / MiB) / (ph.copy / 1000)).toFixed(0)} MiB/s of used data), receiver's chunk check ${secs(ph.verify / 1000)} s, fsck ${secs(ph.finish / 1000)} s\n`);
    results[label] = { usedBytes: src.used, ddReadSeconds: read.seconds, rows };
    await sleep(100);
  }
  process.stdout.write(`\nresults: ${saveResults(repo, "block-copy", results)}\n`);
});

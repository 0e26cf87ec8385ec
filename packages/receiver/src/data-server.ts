// The data port: TLS, one header frame naming the job and its token, then the
// connection becomes the stdin/stdout of an `rsync --server --daemon` whose
// modules are that job's target disks and nothing else, or (kind "block") a
// block session writing one block-replicated partition of the job.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rm, statfs, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createServer, type Server, type TLSSocket } from "node:tls";
import type { PreparedDisk } from "@hoist/images";
import { DataHeaderSchema, HoistError, isHoistError } from "@hoist/protocol";
import { encodeFrame, readFrame } from "@hoist/transport";
import { sleep } from "./auth";
import { runBlockSession } from "./block-session";
import type { ReceiverContext } from "./context";
import { buildRsyncdConfig, checkRsyncCommand } from "./rsync-daemon";

/** A connection that sends no header within this time is dropped. */
export const HEADER_TIMEOUT_MS = 10_000;
/** After a failed rsync, how long before the connection is dropped. */
const CLOSE_GRACE_MS = 2_000;

export function createDataServer(ctx: ReceiverContext, pdeathsig: boolean): Server {
  const children = new Set<ChildProcess>();
  const filled: FilledDisks = new Map();
  const server = createServer({ cert: ctx.state.certPem, key: ctx.state.keyPem, handshakeTimeout: HEADER_TIMEOUT_MS }, (socket) => {
    handleConnection(ctx, socket, children, filled, pdeathsig).catch((e: unknown) => {
      ctx.log.warn("data connection failed", { error: e instanceof Error ? e.message : String(e) });
      socket.destroy();
    });
  });
  server.on("tlsClientError", (e) => ctx.log.debug("TLS handshake failed on the data port", { error: e.message }));
  server.on("close", () => {
    for (const c of children) c.kill("SIGTERM");
  });
  return server;
}

/** Below this much free space a target disk takes no new copy: rsync would only fail on it again. */
const FULL_BELOW_BYTES = 512 * 1024;

/**
 * A disk that an rsync filled takes no new copy until this much more is free than when it
 * filled: what the failed copies let go of as they ended (a temporary file, reserved
 * blocks) must not look like room, or the next copy only fills it again and, in daemon
 * mode, can tell the agent no more than that the connection dropped.
 */
export const FULL_UNTIL_FREED_BYTES = 16 * 2 ** 20;

const NO_SPACE = /\(in ([\w-]+)\): No space left on device|No space left on device/g;

/**
 * The target disks an rsync's error output says it filled: the modules it names, or all of
 * the job's disks when a line names none.
 */
export function disksFilled(stderr: string, disks: readonly PreparedDisk[]): PreparedDisk[] {
  const named = new Set<string>();
  let unnamed = false;
  for (const m of stderr.matchAll(NO_SPACE)) {
    if (m[1]) named.add(m[1]);
    else unnamed = true;
  }
  return disks.filter((d) => unnamed || named.has(d.key));
}

/** Free bytes of each filled target disk (by job and disk) as they were right after it filled. */
type FilledDisks = Map<string, number>;

async function freeBytes(d: PreparedDisk): Promise<number | undefined> {
  const st = await statfs(d.mountPath).catch(() => undefined);
  return st ? st.bavail * st.bsize : undefined;
}

async function rememberFilled(filled: FilledDisks, jobId: string, disks: readonly PreparedDisk[]): Promise<void> {
  for (const d of disks) {
    const free = await freeBytes(d);
    if (free === undefined) continue;
    const key = `${jobId}/${d.key}`;
    // Of several copies that filled it, the one that ended with the least free is the mark.
    filled.set(key, Math.min(free, filled.get(key) ?? Number.POSITIVE_INFINITY));
  }
}

/**
 * An rsync that fills the target exits with ENOSPC, but in daemon mode that reason reaches
 * only the receiver. The copy that follows is told plainly, before it starts.
 */
async function refuseFullTargets(filled: FilledDisks, jobId: string, disks: readonly PreparedDisk[]): Promise<void> {
  for (const d of disks) {
    const free = await freeBytes(d);
    if (free === undefined) continue;
    const key = `${jobId}/${d.key}`;
    const filledAt = filled.get(key);
    const full = free < FULL_BELOW_BYTES || (filledAt !== undefined && free < filledAt + FULL_UNTIL_FREED_BYTES);
    if (!full) {
      filled.delete(key);
      continue;
    }
    throw new HoistError("Receiver.DiskFull", `the target disk ${d.key} on the intermediate instance is full`, {
      fix: `Free space on the target (at least ${FULL_UNTIL_FREED_BYTES / 2 ** 20} MiB more than when it filled), or give it a larger disk (system disk size or data disk size), or exclude more, then run the transfer again; it resumes.`,
      details: { disk: d.key, freeBytes: free },
    });
  }
}

function refuse(socket: TLSSocket, e: HoistError): void {
  try {
    socket.end(encodeFrame({ ok: false, code: e.code, message: e.message }));
  } catch {
    socket.destroy();
  }
  setTimeout(() => socket.destroy(), 2000).unref();
}

async function handleConnection(ctx: ReceiverContext, socket: TLSSocket, children: Set<ChildProcess>, filled: FilledDisks, pdeathsig: boolean): Promise<void> {
  const address = socket.remoteAddress ?? "unknown";
  socket.on("error", () => {});
  let header: ReturnType<typeof DataHeaderSchema.parse>;
  let rest: Buffer;
  try {
    const frame = await readFrame(socket, { timeoutMs: HEADER_TIMEOUT_MS });
    rest = frame.rest;
    const parsed = DataHeaderSchema.safeParse(frame.value);
    if (!parsed.success) throw new HoistError("Transport.BadFrame", "the header frame is not a hoist data header");
    header = parsed.data;
  } catch (e) {
    const err = isHoistError(e) ? e : new HoistError("Transport.BadFrame", String(e));
    ctx.log.warn("data connection refused before the header", { address, code: err.code });
    if (err.code === "Transport.BadFrame") refuse(socket, err);
    else socket.destroy();
    return;
  }
  const log = ctx.log.child({ jobId: header.jobId, address });
  log.info("data connection header received", { kind: header.kind });

  await sleep(ctx.throttle.delayFor(address));
  const job = await ctx.authenticateJob(header.jobId, header.token);
  if (!job) {
    ctx.throttle.fail(address);
    log.warn("data connection refused: bad token");
    refuse(socket, ctx.unauthorized());
    return;
  }
  if (header.kind === "block") {
    try {
      await runBlockSession(ctx, socket, job, header.partition, rest, log);
    } catch (e) {
      const err = isHoistError(e) ? e : new HoistError("Receiver.Error", String(e));
      log.warn("block connection refused", { code: err.code, error: err.message });
      refuse(socket, err);
    }
    return;
  }
  let confPath: string;
  let disks: PreparedDisk[];
  try {
    checkRsyncCommand(header.command);
    disks = await ctx.disksForTransfer(job);
    await refuseFullTargets(filled, job.jobId, disks);
    const jobDir = ctx.store.jobDir(job.jobId);
    confPath = join(jobDir, `rsyncd-${randomBytes(6).toString("hex")}.conf`);
    await writeFile(confPath, buildRsyncdConfig({ disks, logFile: join(jobDir, "rsyncd.log") }), { mode: 0o600 });
  } catch (e) {
    const err = isHoistError(e) ? e : new HoistError("Receiver.Error", String(e));
    log.warn("data connection refused", { code: err.code, error: err.message });
    refuse(socket, err);
    return;
  }

  socket.write(encodeFrame({ ok: true }));
  const args = ["--server", "--daemon", `--config=${confPath}`, "."];
  // If the receiver dies, its rsync servers go too (SIGTERM lets rsync keep the partial file).
  const child = pdeathsig ? spawn("setpriv", ["--pdeathsig", "TERM", "rsync", ...args], { stdio: ["pipe", "pipe", "pipe"] }) : spawn("rsync", args, { stdio: ["pipe", "pipe", "pipe"] });
  children.add(child);
  log.info("rsync daemon started", { pid: child.pid });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString("utf8")).slice(-4000);
  });
  child.stdin?.on("error", () => {});
  if (rest.length) child.stdin?.write(rest);
  socket.pipe(child.stdin!);
  child.stdout?.pipe(socket);
  socket.resume();
  socket.on("close", () => {
    child.stdin?.end();
    // A vanished client leaves rsync waiting on nothing; give it time to save its partial file.
    setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    }, 30_000).unref();
  });
  await new Promise<void>((resolve) => {
    child.on("close", async (code, signal) => {
      children.delete(child);
      if (code !== 0) await rememberFilled(filled, job.jobId, disksFilled(stderr, disks));
      const level = code === 0 ? "info" : "warn";
      log[level]("rsync daemon finished", { exitCode: code, signal, ...(code === 0 ? {} : { stderr: stderr.trim().slice(-500) }) });
      socket.end();
      if (code !== 0) {
        // The client may still be sending into a pipe nobody reads, and would wait on it for
        // its whole I/O timeout: drop what it sends, then close outright so it sees the end.
        socket.unpipe();
        socket.on("data", () => {});
        socket.resume();
        setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
      }
      resolve();
    });
    child.on("error", (e) => {
      log.error("rsync daemon could not start", { error: e.message });
      socket.destroy();
    });
  });
  await rm(confPath, { force: true });
}

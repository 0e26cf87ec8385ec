// A block session on the data port: one job's token, one target partition
// planned for block replication. The receiver answers the agent's hello with
// the manifest of what the partition holds, writes each chunk at its offset
// after checking that it lies inside both the source size and the target
// partition, re-reads the target to verify every chunk against the hash the
// agent computed from the source, and finally has the filesystem checked,
// grown and mounted. A chunk is not hashed on arrival: TLS already protects
// it on the wire, and the re-read checks what really landed on the target
// (an announced hash that was wrong only makes that chunk be sent again).
import { type FileHandle, mkdir, open } from "node:fs/promises";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import type { BlockTarget } from "@hoist/images";
import { BLOCK_CODEC, BLOCK_RECORD, BlockFinishSchema, BlockHelloSchema, HoistError, isHoistError } from "@hoist/protocol";
import { run, type Logger } from "@hoist/runtime";
import { ChunkPool, type ChunkWorkers, decodeChunk, decodeVerifyList, encodeFrame, encodeManifest, parseJsonRecord, RecordReader, writeJsonRecord, writeRecord } from "@hoist/transport";
import { BlockManifest } from "./block-manifest";
import type { ReceiverContext } from "./context";
import type { StoredJob } from "./job-store";

const RECORD_LIMIT = 64 * 1024 * 1024;
const IDLE_MS = 10 * 60_000;
// How long a new session waits for the one it took over to let go of the target.
const TAKEOVER_MS = 60_000;
const FLUSH_BYTES = 128 * 1024 * 1024;

function outOfBounds(message: string): HoistError {
  return new HoistError("Block.OutOfBounds", message, { fix: "The agent sent a chunk outside the partition; make sure both sides run the same hoist version." });
}

/** Reads `length` bytes at `position` into a buffer that owns its memory (so it can move to a worker). */
async function readAt(fh: FileHandle, position: number, length: number, pool: ChunkPool): Promise<Buffer> {
  const buf = pool.take(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) {
      buf.fill(0, done);
      break;
    }
    done += bytesRead;
  }
  return buf;
}

/** Re-reads every chunk the manifest knows and records what the target really holds. */
async function rescan(fh: FileHandle, manifest: BlockManifest, workers: ChunkWorkers, pool: ChunkPool): Promise<number> {
  const { sourceBytes, chunkBytes } = manifest.shape;
  let next = 0;
  let changed = 0;
  await Promise.all(
    Array.from({ length: workers.size * 2 }, async () => {
      while (next < manifest.count) {
        const index = next++;
        if (!manifest.known(index)) continue;
        const offset = index * chunkBytes;
        const { hash, buffer } = await workers.hash(await readAt(fh, offset, Math.min(chunkBytes, sourceBytes - offset), pool));
        pool.give(buffer);
        if (!hash.equals(manifest.hashAt(index))) {
          changed += 1;
          await manifest.set(index, hash);
        }
      }
    }),
  );
  return changed;
}

export async function runBlockSession(ctx: ReceiverContext, socket: TLSSocket, job: StoredJob, partition: string, rest: Buffer, log: Logger): Promise<void> {
  const backend = ctx.backend;
  if (!backend.openBlockTarget || !backend.finishBlockTarget) {
    throw new HoistError("Receiver.BlockUnsupported", "this receiver's target backend has no partitions to copy blocks into", { fix: "Run the receiver with the disk-image backend." });
  }
  const lockKey = `${job.jobId}/${partition}`;
  // A new session of the same job takes the partition over: the agent that held it
  // has died or given up (its connection may stay half-open for minutes), and only
  // the job's token opens either one.
  let release!: () => void;
  const mine = { socket, done: new Promise<void>((r) => (release = r)) };
  const previous = ctx.blockSessions.get(lockKey);
  ctx.blockSessions.set(lockKey, mine);
  const letGo = () => {
    if (ctx.blockSessions.get(lockKey) === mine) ctx.blockSessions.delete(lockKey);
    release();
  };
  if (previous) {
    log.info("block session taken over by a new connection", { partition });
    previous.socket.destroy();
    const gone = await Promise.race([previous.done.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), TAKEOVER_MS).unref())]);
    if (!gone || ctx.blockSessions.get(lockKey) !== mine) {
      letGo();
      throw new HoistError("Receiver.BlockBusy", `partition ${partition} already has a block transfer running`, { fix: "Wait for it to finish, or stop it, then run again.", retryable: true });
    }
  }
  const targets = { jobDir: ctx.store.jobDir(job.jobId), plan: job.plan };
  let target: BlockTarget;
  try {
    // Nothing else of the job may run while the partition is swapped out from under its mounts.
    await ctx.disksForTransfer(job);
    target = await ctx.withJob(job.jobId, () => backend.openBlockTarget!(targets, partition, log));
  } catch (e) {
    letGo();
    throw e;
  }
  socket.write(encodeFrame({ ok: true }));
  const reader = new RecordReader(socket, rest, RECORD_LIMIT);
  let fh: FileHandle | undefined;
  let manifest: BlockManifest | undefined;
  const workers = ctx.chunkWorkers();
  const writes = new Set<Promise<void>>();
  try {
    const first = await reader.next(60_000);
    if (!first) return;
    const hello = BlockHelloSchema.safeParse(parseJsonRecord(first, BLOCK_RECORD.hello));
    if (!hello.success) throw new HoistError("Transport.BadFrame", "the block hello is not valid");
    const { sourceBytes, chunkBytes } = hello.data;
    // Room for a chunk record's header too, so a received record lands in pooled memory.
    const pool = new ChunkPool(chunkBytes + 4096, workers.size * 4 + 4);
    const payloadMemory = (length: number) => (length >= 64 * 1024 ? pool.take(length) : Buffer.allocUnsafe(length));
    if (sourceBytes > target.sizeBytes) {
      throw new HoistError("Block.TargetTooSmall", `the source partition (${sourceBytes} bytes) is larger than target partition ${partition} (${target.sizeBytes} bytes)`, {
        fix: "A block-replicated partition cannot shrink: plan its target partition at least as large as the source.",
      });
    }
    const dir = join(targets.jobDir, "block");
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const opened = await BlockManifest.open(join(dir, `${partition}.manifest`), { sourceBytes, chunkBytes });
    manifest = opened.manifest;
    fh = await open(target.device, "r+");
    if (opened.fresh) {
      // Discard the partition so every chunk the agent skips reads as zeros (and stays sparse).
      const d = await run("blkdiscard", ["-f", target.device], { okExitCodes: [0, 1] });
      if (d.exitCode !== 0) await manifest.setPristine(false);
      log.info("block target started afresh", { partition, sourceBytes, chunkBytes, discarded: d.exitCode === 0 });
    } else if (manifest.touched) {
      const changed = await rescan(fh, manifest, workers, pool);
      await manifest.setTouched(false);
      log.info("block target re-read after it was mounted", { partition, changedChunks: changed });
    }
    await writeRecord(socket, BLOCK_RECORD.manifest, ...encodeManifest({ hashes: manifest.hashes, count: manifest.count, pristine: manifest.pristine }));

    const m = manifest;
    const file = fh;
    let chunks = 0;
    let bytes = 0;
    let writeFailure: unknown;
    // Written data goes to disk while the copy runs, not all at once in the sync before the check:
    // a flush starts each time FLUSH_BYTES more were written (one at a time).
    let unflushed = 0;
    let flushing: Promise<void> | undefined;
    const flushSome = (n: number) => {
      unflushed += n;
      if (unflushed < FLUSH_BYTES || flushing) return;
      unflushed = 0;
      flushing = file
        .datasync()
        .catch((e: unknown) => {
          writeFailure ??= e;
        })
        .finally(() => {
          flushing = undefined;
        });
    };
    const settle = async () => {
      await Promise.all(writes);
      await flushing;
      if (writeFailure) throw writeFailure;
    };
    for (;;) {
      const rec = await reader.next(IDLE_MS, payloadMemory);
      if (!rec) break;
      if (rec.type === BLOCK_RECORD.chunk) {
        const c = decodeChunk(rec.payload);
        if (c.offset % chunkBytes !== 0) throw outOfBounds(`chunk offset ${c.offset} is not a multiple of the chunk size ${chunkBytes}`);
        const index = c.offset / chunkBytes;
        const length = Math.min(chunkBytes, sourceBytes - c.offset);
        if (index >= m.count || c.rawLength !== length || c.offset + c.rawLength > sourceBytes || c.offset + c.rawLength > target.sizeBytes) {
          throw outOfBounds(`chunk at ${c.offset} (+${c.rawLength}) lies outside the ${sourceBytes}-byte source or the ${target.sizeBytes}-byte target partition`);
        }
        if (!Object.values(BLOCK_CODEC).includes(c.codec as never)) throw new HoistError("Block.BadChunk", `unknown chunk codec ${c.codec}`);
        const hash = Buffer.from(c.hash);
        const p = workers
          // No hash check here: the verification re-read is the check (see the top of this file).
          .decode(c.data, c.codec, c.rawLength, null, pool)
          .then(async (raw) => {
            let at = 0;
            while (at < raw.length) {
              const { bytesWritten } = await file.write(raw, at, raw.length - at, c.offset + at);
              at += bytesWritten;
            }
            pool.give(raw);
            await m.set(index, hash);
            chunks += 1;
            bytes += raw.length;
            flushSome(raw.length);
          })
          .catch((e: unknown) => {
            writeFailure ??= e;
          });
        writes.add(p);
        void p.finally(() => writes.delete(p));
        // Bounded memory: a few chunks per worker decode while the next arrive.
        if (writes.size >= workers.size * 4) await Promise.race(writes);
        if (writeFailure) throw writeFailure;
      } else if (rec.type === BLOCK_RECORD.verify) {
        await settle();
        await file.sync();
        await m.sync();
        const entries = decodeVerifyList(rec.payload);
        const mismatched: number[] = [];
        let next = 0;
        await Promise.all(
          Array.from({ length: workers.size * 2 }, async () => {
            while (next < entries.length) {
              const e = entries[next++] as (typeof entries)[number];
              if (e.index >= m.count) throw outOfBounds(`verify names chunk ${e.index}, past the last chunk ${m.count - 1}`);
              const offset = e.index * chunkBytes;
              const { hash, buffer } = await workers.hash(await readAt(file, offset, Math.min(chunkBytes, sourceBytes - offset), pool));
              pool.give(buffer);
              await m.set(e.index, hash);
              if (!hash.equals(e.hash)) mismatched.push(e.index);
            }
          }),
        );
        mismatched.sort((a, b) => a - b);
        log.info("block target verified", { partition, checked: entries.length, mismatched: mismatched.length, chunksWritten: chunks, bytesWritten: bytes });
        await writeJsonRecord(socket, BLOCK_RECORD.verified, { checked: entries.length, mismatched: mismatched.slice(0, 1000), mismatchedCount: mismatched.length });
      } else if (rec.type === BLOCK_RECORD.finish) {
        await settle();
        const finish = BlockFinishSchema.safeParse(parseJsonRecord(rec, BLOCK_RECORD.finish));
        if (!finish.success) throw new HoistError("Transport.BadFrame", "the block finish record is not valid");
        await file.sync();
        await file.close();
        fh = undefined;
        // From here on the target changes under the manifest (journal replay, growth, mounts, conversion).
        await m.setTouched(true);
        await m.setPristine(false);
        const done = await ctx.withJob(job.jobId, () => backend.finishBlockTarget!(targets, partition, { grow: finish.data.grow }, log));
        await writeJsonRecord(socket, BLOCK_RECORD.finished, { fs: hello.data.fs, sourceBytes, ...done });
        break;
      } else {
        throw new HoistError("Transport.BadFrame", `unexpected record type ${rec.type} in a block session`);
      }
    }
    await settle();
  } catch (e) {
    const err = isHoistError(e) ? e : new HoistError("Receiver.Error", e instanceof Error ? e.message : String(e), { retryable: true });
    log.warn("block session failed", { partition, code: err.code, error: err.message });
    if (!socket.destroyed) {
      await writeJsonRecord(socket, BLOCK_RECORD.error, { code: err.code, message: err.message }).catch(() => undefined);
      // Keep reading for a moment so the agent gets the error record rather than a reset.
      socket.end();
      socket.resume();
      setTimeout(() => socket.destroy(), 2000).unref();
    }
  } finally {
    await Promise.allSettled(writes);
    if (fh) await fh.close().catch(() => undefined);
    if (manifest) await manifest.close().catch(() => undefined);
    letGo();
    if (!socket.destroyed) socket.end();
  }
}

// Block-mode transfer of one source partition onto one target partition.
// Reads only the chunks that hold allocated blocks, hashes each in a worker
// and sends only those whose hash differs from the receiver's manifest, so a
// rerun, a resume after a crash and a periodic sync all move just what
// changed. The last pass copies a consistent state (an LVM snapshot, a
// frozen filesystem, or an unmounted device), and the receiver then proves
// that every used chunk on the target hashes as that state did.
import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import type { TLSSocket } from "node:tls";
import {
  BLOCK_CHUNK_DEFAULT_BYTES,
  BLOCK_CODEC,
  BLOCK_HASH_BYTES,
  BLOCK_RANGES_MAX,
  BLOCK_RECORD,
  type BlockFinished,
  BlockFinishedSchema,
  type BlockVerified,
  BlockVerifiedSchema,
  DataReplySchema,
  HoistError,
} from "@hoist/protocol";
import { type Logger, silentLogger } from "@hoist/runtime";
import {
  brotliQuality,
  ChunkPool,
  ChunkWorkers,
  connectPinned,
  type DigestResult,
  decodeManifest,
  encodeChunkHead,
  encodeFrame,
  encodeRanges,
  encodeVerifyList,
  parseJsonRecord,
  RecordReader,
  readFrame,
  type VerifyEntry,
  writeJsonRecord,
  writeRecord,
  writeRecordThen,
} from "@hoist/transport";
import { type AllocationMap, type ChunkSpan, chunksOf, readAllocation, sourceSize } from "./allocation";
import { createSnapshot, dropDeviceCache, freezeFilesystem, logicalVolumeOf, type MountInfo, mountOf } from "./consistency";
import { zeroHash } from "./zero-hash";

export interface BlockProgress {
  /** Used bytes of the source read and hashed in this pass. */
  bytesDone: number;
  /** Used bytes of the source (what the filesystem says is allocated). */
  bytesTotal: number;
  bytesPerSecond: number;
  pass: number;
  /** Bytes written to the connection so far (all passes). */
  bytesSent: number;
}

export interface BlockTransferOptions {
  /** The source partition: a block device, an LV, or a disk-image file. */
  source: string;
  receiver: { host: string; dataPort: number; fingerprint: string };
  jobId: string;
  token: string;
  /** Target partition key in the job's plan (e.g. "disk1-p1"). */
  partition: string;
  /** 0 (off) to 10, the same knob as file mode. */
  compression?: number;
  /** Total limit in KB/s; 0 or undefined: none. */
  bandwidthKBps?: number;
  chunkBytes?: number;
  /**
   * "auto": an LVM snapshot when possible, else live passes and a frozen last pass when the
   * source is mounted read-write; "none": one pass, whatever the source is doing.
   */
  consistency?: "auto" | "none";
  /** Live passes before the frozen one (default 4). */
  maxLivePasses?: number;
  /** A live pass that changed fewer bytes than this ends the live passes (default 64 MiB). */
  settleBytes?: number;
  /** Longest the filesystem may stay frozen (default 60 s). */
  freezeTimeoutMs?: number;
  /** Grow the target filesystem to fill its partition (default true). */
  grow?: boolean;
  /** Shared chunk workers (one pool per process is enough); made and closed here when absent. */
  workers?: ChunkWorkers;
  onProgress?: (p: BlockProgress) => void;
  logger?: Logger;
  signal?: AbortSignal;
}

export interface BlockTransferResult {
  fs: string | null;
  allocation: AllocationMap["method"];
  sourceBytes: number;
  /** Used bytes of the source in the consistent state copied last. */
  usedBytes: number;
  /** Bytes read from the source over all passes. */
  bytesRead: number;
  /** Bytes read by the last (consistent) pass alone. */
  bytesReadLastPass: number;
  /** Bytes written to the connection (records included). */
  bytesSent: number;
  chunksSent: number;
  passes: number;
  consistency: "snapshot" | "frozen" | "unmounted" | "read-only" | "live";
  verifiedChunks: number;
  finished: BlockFinished;
  durationMs: number;
  /** Where the time went: reading and sending (all passes), the receiver's check of every chunk, and its fsck/grow of the target. */
  phaseMs: { copy: number; verify: number; finish: number };
}

const MANIFEST_LIMIT = 256 * 1024 * 1024;

function aborted(partition: string): HoistError {
  return new HoistError("Transfer.Aborted", `the block copy of ${partition} was stopped before it finished`, { fix: "Run the transfer again; it sends only what the target does not hold yet.", retryable: true });
}

async function readFully(fh: FileHandle, buf: Buffer, at: number, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, at + done, length - done, position + done);
    if (bytesRead === 0) throw new HoistError("Block.ReadFailed", `the source ended at byte ${position + done}, before its reported size`, { retryable: true });
    done += bytesRead;
  }
}

/** Reads the used ranges of one chunk into the pool's memory; the rest of the chunk is zeros. */
async function readChunk(fh: FileHandle, span: ChunkSpan, pool: ChunkPool): Promise<{ buffer: Buffer; read: number }> {
  const buffer = pool.take(span.length);
  let at = 0;
  let read = 0;
  for (const [a, b] of span.reads) {
    if (a > at) buffer.fill(0, at, a);
    await readFully(fh, buffer, a, b - a, span.offset + a);
    read += b - a;
    at = b;
  }
  if (at < span.length) buffer.fill(0, at, span.length);
  return { buffer, read };
}

class RateLimit {
  private readonly started = Date.now();
  private sent = 0;
  constructor(private readonly bytesPerSecond: number) {}
  async take(n: number): Promise<void> {
    if (this.bytesPerSecond <= 0) return;
    this.sent += n;
    const due = this.started + (this.sent / this.bytesPerSecond) * 1000;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

interface Session {
  socket: TLSSocket;
  reader: RecordReader;
  /** What the receiver holds: hash per chunk (all-zero bytes = nothing known). */
  held: Buffer;
  pristine: boolean;
  bytesSent: number;
  chunksSent: number;
}

async function openSession(o: BlockTransferOptions, sourceBytes: number, chunkBytes: number, fs: string | null): Promise<Session> {
  const socket = await connectPinned({ host: o.receiver.host, port: o.receiver.dataPort, fingerprint: o.receiver.fingerprint, highWaterMark: 1024 * 1024 });
  try {
    socket.write(encodeFrame({ v: 1, jobId: o.jobId, token: o.token, kind: "block", partition: o.partition }));
    const { value, rest } = await readFrame(socket, { timeoutMs: 60_000 });
    const reply = DataReplySchema.safeParse(value);
    if (!reply.success) throw new HoistError("Transport.BadFrame", "the receiver answered the header with an unknown message");
    if (!reply.data.ok) throw new HoistError(reply.data.code, reply.data.message, { retryable: reply.data.code === "Transport.Timeout" });
    const reader = new RecordReader(socket, rest, MANIFEST_LIMIT);
    await writeJsonRecord(socket, BLOCK_RECORD.hello, { sourceBytes, chunkBytes, fs });
    // The receiver may first re-read what it holds (after the target was mounted); that takes a while on big disks.
    const rec = await reader.next(60 * 60_000);
    if (!rec) throw new HoistError("Transport.Closed", "the receiver closed the block session before sending its manifest", { retryable: true });
    if (rec.type === BLOCK_RECORD.error) parseJsonRecord(rec, BLOCK_RECORD.manifest);
    if (rec.type !== BLOCK_RECORD.manifest) throw new HoistError("Transport.BadFrame", `expected the manifest, got record type ${rec.type}`);
    const m = decodeManifest(rec.payload);
    const want = Math.ceil(sourceBytes / chunkBytes);
    if (m.count !== want) throw new HoistError("Transport.BadFrame", `the receiver's manifest lists ${m.count} chunks, not ${want}`);
    return { socket, reader, held: Buffer.from(m.hashes), pristine: m.pristine, bytesSent: 0, chunksSent: 0 };
  } catch (e) {
    socket.destroy();
    throw e;
  }
}

/** After a failed write: the receiver's error record, if it sent one before closing. */
async function receiverError(s: Session): Promise<HoistError | undefined> {
  try {
    const rec = await s.reader.next(2000);
    if (rec?.type === BLOCK_RECORD.error) parseJsonRecord(rec, BLOCK_RECORD.verified);
  } catch (e) {
    if (e instanceof HoistError && e.code !== "Transport.Timeout" && e.code !== "Transport.Closed") return e;
  }
  return undefined;
}

interface PassResult {
  changedBytes: number;
  read: number;
  entries: VerifyEntry[];
}

export async function transferPartitionBlocks(o: BlockTransferOptions): Promise<BlockTransferResult> {
  const started = Date.now();
  const log = (o.logger ?? silentLogger).child({ jobId: o.jobId, partition: o.partition });
  const chunkBytes = o.chunkBytes ?? BLOCK_CHUNK_DEFAULT_BYTES;
  const compression = o.compression ?? 0;
  if (!Number.isInteger(compression) || compression < 0 || compression > 10) throw new HoistError("Transfer.BadCompression", `compression level ${compression} is outside 0–10`);
  const quality = brotliQuality(compression);
  const signal = o.signal;
  if (signal?.aborted) throw aborted(o.partition);

  const sourceBytes = await sourceSize(o.source);
  const firstMap = await readAllocation(o.source);
  const fs = firstMap.fs;
  const mount: MountInfo | null = await mountOf(o.source);
  const lv = (o.consistency ?? "auto") === "auto" && mount && !mount.readOnly ? await logicalVolumeOf(o.source) : null;
  let consistency: BlockTransferResult["consistency"] = !mount ? "unmounted" : mount.readOnly ? "read-only" : "live";
  if ((o.consistency ?? "auto") === "auto" && mount && !mount.readOnly) consistency = lv && lv.vgFreeBytes >= 64 * 1024 * 1024 ? "snapshot" : "frozen";
  log.info("block copy planned", { source: o.source, fs, allocation: firstMap.method, sourceBytes, usedBytes: firstMap.usedBytes, consistency, mount: mount?.target ?? null });

  const workers = o.workers ?? new ChunkWorkers();
  const ownWorkers = !o.workers;
  const inFlight = Math.max(2, workers.size * 3);
  // Chunks in flight: read, at a worker, or queued on the connection.
  const pool = new ChunkPool(chunkBytes, inFlight * 2);
  const session = await openSession(o, sourceBytes, chunkBytes, fs);
  const limit = new RateLimit((o.bandwidthKBps ?? 0) * 1024);
  /** Sends one chunk in its cheapest form; its memory goes back to the pool once the connection is done with it. */
  const sendChunk = async (span: ChunkSpan, d: DigestResult, read: number): Promise<void> => {
    const raw = !d.zero && !d.compressed;
    if (!raw) pool.give(d.buffer);
    // Uncompressed, a chunk only partly in use sends just its used ranges (the rest is zeros).
    const ranges = raw && read < span.length - 4096 && span.reads.length <= BLOCK_RANGES_MAX;
    const codec = d.zero ? BLOCK_CODEC.zero : d.compressed ? BLOCK_CODEC.brotli : ranges ? BLOCK_CODEC.ranges : BLOCK_CODEC.raw;
    const parts = d.zero ? [] : d.compressed ? [d.compressed] : ranges ? [encodeRanges(span.reads), ...span.reads.map(([a, b]) => d.buffer.subarray(a, b))] : [d.buffer];
    const length = parts.reduce((sum, p) => sum + p.length, 0);
    await limit.take(length);
    await writeRecordThen(session.socket, raw ? () => pool.give(d.buffer) : undefined, BLOCK_RECORD.chunk, encodeChunkHead({ offset: span.offset, rawLength: span.length, codec, hash: d.hash }), ...parts);
    session.bytesSent += length + 50;
    session.chunksSent += 1;
  };
  const onAbort = () => session.socket.destroy();
  signal?.addEventListener("abort", onAbort, { once: true });
  let bytesRead = 0;
  let passes = 0;
  let quiet = false;
  const samples: { t: number; bytes: number }[] = [];

  const runPass = async (device: string, map: AllocationMap, deadline?: number): Promise<PassResult> => {
    passes += 1;
    const pass = passes;
    const spans = chunksOf(map, chunkBytes);
    const fh = await open(device, "r");
    let done = 0;
    let changedBytes = 0;
    let read = 0;
    let lastReport = 0;
    const entries: VerifyEntry[] = [];
    const report = (force: boolean) => {
      if (!o.onProgress || quiet) return;
      const now = Date.now();
      if (!force && now - lastReport < 500) return;
      lastReport = now;
      samples.push({ t: now, bytes: done });
      while (samples.length > 2 && now - (samples[0]?.t ?? now) > 5000) samples.shift();
      const first = samples[0] ?? { t: now, bytes: done };
      const speed = now > first.t && done >= first.bytes ? ((done - first.bytes) * 1000) / (now - first.t) : 0;
      o.onProgress({ bytesDone: done, bytesTotal: map.usedBytes, bytesPerSecond: speed, pass, bytesSent: session.bytesSent });
    };
    samples.length = 0;
    let next = 0;
    let stopped = false;
    const one = async (span: ChunkSpan): Promise<void> => {
      const { buffer, read: n } = await readChunk(fh, span, pool);
      read += n;
      const heldHash = session.held.subarray(span.index * BLOCK_HASH_BYTES, (span.index + 1) * BLOCK_HASH_BYTES);
      const known = heldHash.some((b) => b !== 0);
      // An untouched target reads as zeros where nothing was written, so a zero chunk needs no bytes.
      const expected = known ? Buffer.from(heldHash) : session.pristine ? zeroHash(span.length) : null;
      const d = await workers.digest(buffer, expected, quality);
      entries.push({ index: span.index, hash: d.hash });
      if (d.changed) {
        await sendChunk(span, d, n);
        changedBytes += span.length;
        d.hash.copy(session.held, span.index * BLOCK_HASH_BYTES);
      } else {
        pool.give(d.buffer);
      }
      done += span.usedBytes;
      report(false);
    };
    try {
      await Promise.all(
        Array.from({ length: Math.min(inFlight, spans.length) }, async () => {
          while (next < spans.length && !stopped) {
            if (signal?.aborted) throw aborted(o.partition);
            if (deadline && Date.now() > deadline) throw new HoistError("Block.FreezeTooLong", `the frozen pass over ${o.source} did not finish within the freeze limit`, { fix: "Raise the freeze limit, copy while the partition is less busy, or put it on LVM with free extents so a snapshot is used.", retryable: true });
            const span = spans[next++] as ChunkSpan;
            await one(span).catch((e: unknown) => {
              stopped = true;
              throw e;
            });
          }
        }),
      );
    } catch (e) {
      if (signal?.aborted) throw aborted(o.partition);
      throw (await receiverError(session)) ?? e;
    } finally {
      await fh.close();
    }
    report(true);
    bytesRead += read;
    entries.sort((a, b) => a.index - b.index);
    lastPass = { changedBytes, read, entries };
    lastMap = map;
    return lastPass;
  };

  let finalEntries: VerifyEntry[] = [];
  let lastPass: PassResult | undefined;
  let lastMap = firstMap;
  let finalDevice = o.source;
  let cleanup: (() => Promise<void>) | undefined;
  try {
    if (consistency === "snapshot" && lv) {
      const snap = await createSnapshot(lv, log);
      cleanup = () => snap.remove();
      finalDevice = snap.device;
      finalEntries = (await runPass(snap.device, await readAllocation(snap.device, fs))).entries;
    } else if (consistency === "frozen" && mount) {
      const maxLive = Math.max(1, o.maxLivePasses ?? 4);
      const settle = o.settleBytes ?? 64 * 1024 * 1024;
      // XFS keeps recent metadata in its log and its own buffers, not yet in place on the device: its
      // allocation map is read under a freeze of a moment, so live passes read what is really in use.
      const liveMap = async (): Promise<AllocationMap> => {
        if (fs !== "xfs") {
          await dropDeviceCache(o.source);
          return readAllocation(o.source, fs);
        }
        const brief = await freezeFilesystem(mount.target, 10_000, silentLogger);
        try {
          await dropDeviceCache(o.source);
          return await readAllocation(o.source, fs);
        } finally {
          await brief.thaw();
        }
      };
      let map = await liveMap();
      for (let i = 0; i < maxLive; i++) {
        const r = await runPass(o.source, map);
        log.info("live pass done", { pass: passes, changedBytes: r.changedBytes, readBytes: r.read });
        if (i > 0 && r.changedBytes <= settle) break;
        map = await liveMap();
      }
      const freeze = await freezeFilesystem(mount.target, o.freezeTimeoutMs ?? 60_000, log);
      quiet = true;
      try {
        // Nothing below may write to the frozen filesystem: no progress, no logs until thawed.
        await dropDeviceCache(o.source);
        const frozenMap = await readAllocation(o.source, fs);
        finalEntries = (await runPass(o.source, frozenMap, freeze.deadline)).entries;
      } finally {
        await freeze.thaw();
        quiet = false;
      }
    } else {
      finalEntries = (await runPass(o.source, firstMap)).entries;
    }
    const copied = Date.now();
    // Verification: the target must hold exactly what the copied state hashed to, chunk by chunk.
    let verified: BlockVerified | undefined;
    for (let round = 0; round < 3; round++) {
      await writeRecord(session.socket, BLOCK_RECORD.verify, encodeVerifyList(finalEntries));
      const rec = await session.reader.next(60 * 60_000);
      if (!rec) throw new HoistError("Transport.Closed", "the receiver closed the block session during verification", { retryable: true });
      verified = BlockVerifiedSchema.parse(parseJsonRecord(rec, BLOCK_RECORD.verified));
      if (verified.mismatchedCount === 0) break;
      log.warn("target chunks differ from the source; sending them again", { mismatched: verified.mismatchedCount });
      if (verified.mismatched.length < verified.mismatchedCount) break;
      const fh = await open(finalDevice, "r");
      try {
        const spans = new Map(chunksOf(await readAllocation(finalDevice, fs), chunkBytes).map((s) => [s.index, s]));
        for (const index of verified.mismatched) {
          const span = spans.get(index);
          const expected = finalEntries.find((e) => e.index === index)?.hash;
          if (!span || !expected) throw new HoistError("Block.VerifyFailed", `chunk ${index} is no longer used on the source`, { retryable: true });
          const { buffer, read } = await readChunk(fh, span, pool);
          const d = await workers.digest(buffer, null, quality);
          if (!d.hash.equals(expected)) throw new HoistError("Block.VerifyFailed", `chunk ${index} changed on the source after the consistent pass`, { fix: "Run the transfer again.", retryable: true });
          await sendChunk(span, d, read);
        }
      } finally {
        await fh.close();
      }
    }
    if (!verified || verified.mismatchedCount > 0) {
      throw new HoistError("Block.VerifyFailed", `${verified?.mismatchedCount ?? "some"} chunks on the target do not match the source`, { fix: "Run the transfer again; if it keeps failing, check the intermediate instance's disk.", retryable: true });
    }
    const checked = Date.now();
    await writeJsonRecord(session.socket, BLOCK_RECORD.finish, { grow: o.grow ?? true });
    const rec = await session.reader.next(60 * 60_000);
    if (!rec) throw new HoistError("Transport.Closed", "the receiver closed the block session before it finished the filesystem", { retryable: true });
    const finished = BlockFinishedSchema.parse(parseJsonRecord(rec, BLOCK_RECORD.finished));
    const result: BlockTransferResult = {
      fs,
      allocation: firstMap.method,
      sourceBytes,
      usedBytes: lastMap.usedBytes,
      bytesRead,
      bytesReadLastPass: lastPass?.read ?? 0,
      bytesSent: session.bytesSent,
      chunksSent: session.chunksSent,
      passes,
      consistency,
      verifiedChunks: verified.checked,
      finished,
      durationMs: Date.now() - started,
      phaseMs: { copy: copied - started, verify: checked - copied, finish: Date.now() - checked },
    };
    log.info("block copy finished", { ...result, finished: undefined, check: finished.check, grown: finished.grown });
    return result;
  } catch (e) {
    if (signal?.aborted) throw aborted(o.partition);
    throw e;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    session.socket.end();
    session.socket.destroy();
    if (cleanup) await cleanup().catch((e: unknown) => log.warn("could not remove the snapshot", { error: String(e) }));
    if (ownWorkers) await workers.close();
  }
}

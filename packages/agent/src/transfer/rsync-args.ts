// The rsync client command line of one stream. Everything a user can tune
// (bandwidth, compression, checksums) maps onto rsync's own options; the
// remote shell is the hoist tunnel, so `hoist::MODULE` reaches the receiver's
// per-job rsync daemon over pinned TLS.
import { HoistError } from "@hoist/protocol";

export const PARTIAL_DIR = ".hoist-partial";

export interface RsyncArgsOptions {
  source: string;
  module: string;
  /** The NUL-separated filter rules file of this stream. */
  filterFile: string;
  /** argv of the tunnel, e.g. [node, /opt/hoist/hoist.mjs, "tunnel"]. */
  tunnel: readonly string[];
  /** KB/s for this stream; 0 or undefined means no limit. */
  bandwidthKBps?: number;
  /** 0 (off) to 10. */
  compression?: number;
  checksum?: boolean;
  /** Seconds without I/O before rsync gives up. */
  ioTimeoutSec?: number;
  /** Folder metadata pass: no deletions. */
  foldersOnly?: boolean;
}

/** rsync's -e splits on spaces and honours quotes; quote what needs it. */
export function rshString(argv: readonly string[]): string {
  return argv
    .map((a) => {
      if (/["\n]/.test(a)) throw new HoistError("Transfer.BadTunnelPath", `cannot pass "${a}" to rsync's -e`, { fix: "Install hoist in a path without quotes or line breaks." });
      return /[\s']/.test(a) ? `"${a}"` : a;
    })
    .join(" ");
}

/**
 * rsync's --zl for each compression level 1–10 (index = level). Compression pays only while the
 * link is slower than compressing, so the levels sit on zstd's fast end: 1–6 are its negative
 * ("fast") levels, the default 7 is zstd 1 (hundreds of MB/s on one core), and 10 stops at zstd 6.
 * zstd 13 and up, where the old mapping put the default, compress at ~10 MB/s a core and throttle
 * every link faster than 80 Mbit/s.
 */
const ZSTD_LEVELS = [0, -7, -5, -4, -3, -2, -1, 1, 2, 3, 6] as const;

export function zstdLevel(compression: number): number {
  return ZSTD_LEVELS[Math.max(1, Math.min(10, Math.round(compression)))] ?? 1;
}

export function buildRsyncArgs(o: RsyncArgsOptions): string[] {
  if (!/^(system|disk([1-9]|1[0-6]))$/.test(o.module)) throw new HoistError("Transfer.BadModule", `"${o.module}" is not a target disk (system or disk1–disk16)`);
  const compression = o.compression ?? 0;
  if (!Number.isInteger(compression) || compression < 0 || compression > 10) throw new HoistError("Transfer.BadCompression", `compression level ${compression} is outside 0–10`);
  const args = ["-aHAXS", "--numeric-ids"];
  if (!o.foldersOnly) args.push("--delete");
  args.push(`--partial-dir=${PARTIAL_DIR}`, "--from0", `--filter=merge ${o.filterFile}`, "--info=progress2", `--timeout=${o.ioTimeoutSec ?? 600}`);
  if (o.bandwidthKBps && o.bandwidthKBps > 0) args.push(`--bwlimit=${Math.max(1, Math.floor(o.bandwidthKBps))}`);
  if (o.checksum) args.push("-c");
  if (compression > 0) args.push("-z", "--zc=zstd", `--zl=${zstdLevel(compression)}`);
  args.push("-e", rshString(o.tunnel), `${o.source.replace(/\/+$/, "")}/`, `hoist::${o.module}/`);
  return args;
}

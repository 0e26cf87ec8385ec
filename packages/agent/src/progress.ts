// What a person (or a script) watching `hoist migrate` sees: a one-line bar
// on a terminal, plain lines in a log or pipe, the --progressfile that
// monitoring tools poll, and the final verdict line.
//
// The percent is of the whole migration, not of one stage, and never goes
// back: preparing takes 0–2 %, copying 2–90 % (by bytes), making the image
// 90–99 %, and 100 % only once the image exists.
import type { MigrationStage } from "./client-data";
import { writeFileAtomic } from "./workdir";

export const FINISHED_LINE = "Goto Hoist Finished!";
export const NOT_FINISHED_LINE = "Goto Hoist Not Finished!";

const STAGE_SPAN: Record<MigrationStage, [number, number]> = {
  PrepareForRsync: [0, 2],
  DoRsync: [2, 90],
  CreateImage: [90, 99],
  Finished: [100, 100],
};

/** The verdict printed last, as go2aliyun_client does, so scripts can grep for it. */
export function finalLine(ok: boolean): string {
  return ok ? FINISHED_LINE : NOT_FINISHED_LINE;
}

/** Stage on line 1, integer percent on line 2, replaced atomically so a reader never sees half. */
export function writeProgressFile(file: string, stage: MigrationStage, percent: number): void {
  writeFileAtomic(file, `${stage}\n${Math.max(0, Math.min(100, Math.floor(percent)))}\n`, 0o644);
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (x: number) => String(x).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

export interface ProgressOptions {
  progressFile?: string;
  /** Where lines go; a TTY gets the redrawn bar. Default: stdout. */
  stream?: NodeJS.WritableStream;
  verbose?: boolean;
  /** Milliseconds clock, replaceable in tests. */
  now?: () => number;
}

export interface ProgressReporter {
  stage(stage: MigrationStage, note?: string): void;
  /** Bytes copied so far of the bytes to copy, over all disks. */
  bytes(done: number, total: number): void;
  /** Prints the verdict line; on success the progress file says Finished / 100. */
  finish(ok: boolean): void;
  readonly percent: number;
}

export function createProgressReporter(options: ProgressOptions = {}): ProgressReporter {
  const stream = options.stream ?? process.stdout;
  const tty = (stream as { isTTY?: boolean }).isTTY === true;
  const now = options.now ?? Date.now;
  // Plain lines are for logs: one per 10 s keeps a day-long copy readable.
  const plainEvery = options.verbose ? 2_000 : 10_000;
  let stage: MigrationStage = "PrepareForRsync";
  let percent = 0;
  let done = 0;
  let total = 0;
  let speed = 0;
  let lastSample: { at: number; done: number } | undefined;
  let lastDraw = Number.NEGATIVE_INFINITY;
  let barShown = false;
  let fileState = "";

  const syncFile = () => {
    if (!options.progressFile) return;
    const state = `${stage}:${percent}`;
    if (state === fileState) return;
    fileState = state;
    writeProgressFile(options.progressFile, stage, percent);
  };

  const line = (): string => {
    const rate = speed > 0 ? `${formatBytes(speed)}/s` : "-- B/s";
    const eta = speed > 0 && total > done ? formatDuration((total - done) / speed) : "--:--";
    const copied = total > 0 ? `${formatBytes(done)}/${formatBytes(total)}` : formatBytes(done);
    return `${String(percent).padStart(3)}% ${copied} ${rate} ETA ${eta} ${stage}`;
  };

  const draw = (force: boolean) => {
    const t = now();
    if (tty) {
      if (!force && t - lastDraw < 250) return;
      const width = 24;
      const filled = Math.round((percent / 100) * width);
      stream.write(`\r[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${line()}\x1b[K`);
      barShown = true;
    } else {
      if (!force && t - lastDraw < plainEvery) return;
      stream.write(`${new Date().toISOString()} ${line()}\n`);
    }
    lastDraw = t;
  };

  const raise = (p: number) => {
    percent = Math.max(percent, Math.min(100, Math.floor(p)));
  };

  return {
    get percent() {
      return percent;
    },
    stage(next, note) {
      stage = next;
      raise(STAGE_SPAN[next][0]);
      syncFile();
      if (note && (options.verbose || !tty)) {
        if (barShown) stream.write("\n");
        barShown = false;
        stream.write(`${note}\n`);
      }
      draw(true);
    },
    bytes(d, t) {
      const at = now();
      if (lastSample && at > lastSample.at) {
        const instant = ((d - lastSample.done) * 1000) / (at - lastSample.at);
        // Smoothed, so one slow file does not swing the ETA.
        speed = speed === 0 ? instant : speed * 0.7 + instant * 0.3;
      }
      lastSample = { at, done: d };
      done = d;
      total = t;
      if (stage === "DoRsync" && t > 0) {
        const [from, to] = STAGE_SPAN.DoRsync;
        raise(from + ((to - from) * Math.min(d, t)) / t);
      }
      syncFile();
      draw(false);
    },
    finish(ok) {
      if (ok) {
        stage = "Finished";
        percent = 100;
        syncFile();
      }
      if (barShown) stream.write("\n");
      barShown = false;
      stream.write(`${finalLine(ok)}\n`);
    },
  };
}

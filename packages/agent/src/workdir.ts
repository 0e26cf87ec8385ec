// The working folder of a one-shot migration, laid out as go2aliyun_client's:
//   user_config.json                      settings
//   Excludes/rsync_excludes_linux.txt     extra excludes for the system disk
//   Excludes/rsync_excludes_linux_diskN.txt  excludes for data disk N, relative to its src_path
//   client_data                           resume state (no secrets; see client-data.ts)
//   .client_token                         the job token, 0600, kept apart from client_data
//   Logs/hoist_<timestamp>.log            one JSON-lines log per run
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { HoistError, type UserConfig } from "@hoist/protocol";
import { createLogger, type Logger } from "@hoist/runtime";
import { decodeConfigText, readConfigBytes } from "./config/json-text";

export interface WorkdirPaths {
  root: string;
  userConfig: string;
  excludesDir: string;
  clientData: string;
  clientToken: string;
  logsDir: string;
}

export function workdirPaths(workdir: string): WorkdirPaths {
  const root = resolve(workdir);
  return {
    root,
    userConfig: join(root, "user_config.json"),
    excludesDir: join(root, "Excludes"),
    clientData: join(root, "client_data"),
    clientToken: join(root, ".client_token"),
    logsDir: join(root, "Logs"),
  };
}

/** What go2aliyun_client never copies from a Linux system disk. */
export const DEFAULT_LINUX_EXCLUDES = ["/dev/*", "/sys/*", "/proc/*", "/media/*", "lost+found/*", "/mnt/*", "/var/lib/lxcfs/*"] as const;

export interface DiskExcludes {
  /** rsync exclude patterns for the system disk, anchored at the source root. */
  system: string[];
  /** rsync exclude patterns per data disk index, anchored at that disk's src_path. */
  dataDisks: Record<number, string[]>;
}

/** A pattern is a path; rsync takes none longer. */
const MAX_EXCLUDE_LINE = 4096;

/**
 * Reads an exclude file: one rsync pattern per line, `#` comments and blank
 * lines skipped. Missing files mean no extra excludes. The file must be UTF-8
 * text (Config.InvalidEncoding otherwise) with sane lines.
 */
export function readExcludeFile(file: string): string[] {
  if (!existsSync(file)) return [];
  const patterns: string[] = [];
  decodeConfigText(readConfigBytes(file, "Config.InvalidExclude"), file)
    .split(/\r?\n/)
    .forEach((raw, i) => {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) return;
      const bad = line.length > MAX_EXCLUDE_LINE ? `is ${line.length} characters long (at most ${MAX_EXCLUDE_LINE})` : /[\u0000-\u001f\u007f]/.test(line) ? "contains a control character" : undefined;
      if (bad) {
        throw new HoistError("Config.InvalidExclude", `${file} line ${i + 1}: the pattern ${bad}`, {
          fix: "Write one path or rsync pattern per line, e.g. /var/cache/ or *.tmp.",
          details: { file, line: i + 1 },
        });
      }
      // A `..` could reach outside the tree being copied, which rsync would silently accept.
      if (line.split("/").includes("..")) {
        throw new HoistError("Config.InvalidExclude", `${file} line ${i + 1}: the pattern ${JSON.stringify(line)} contains "..", which exclude patterns may not use`, {
          fix: `Write the path from the top of the disk without "..", e.g. /var/cache/ on the system disk or /mydirs/docs/ for a data disk.`,
          details: { file, line: i + 1 },
        });
      }
      patterns.push(line);
    });
  return patterns;
}

/**
 * The exclude patterns of every disk: the Linux defaults and the system file
 * for the system disk, plus each data disk's src_path contents so nothing is
 * copied twice; each data disk's own file for that disk.
 */
export function readExcludes(workdir: string, dataDisks: UserConfig["data_disks"]): DiskExcludes {
  const { excludesDir } = workdirPaths(workdir);
  const system = [...DEFAULT_LINUX_EXCLUDES, ...dataDisks.map((d) => `${d.src_path}/*`), ...readExcludeFile(join(excludesDir, "rsync_excludes_linux.txt"))];
  const perDisk: Record<number, string[]> = {};
  for (const d of dataDisks) perDisk[d.data_disk_index] = ["lost+found/*", ...readExcludeFile(join(excludesDir, `rsync_excludes_linux_disk${d.data_disk_index}.txt`))];
  return { system: [...new Set(system)], dataDisks: perDisk };
}

export interface RunLog {
  file: string;
  logger: Logger & { addSecret(s: string): void };
}

/**
 * Opens this run's log file under Logs/ (JSON lines). Secrets given here, or
 * added later, are redacted before anything is written.
 */
export function openRunLog(workdir: string, options: { secrets?: string[]; console?: NodeJS.WritableStream | null; verbose?: boolean; now?: Date } = {}): RunLog {
  const { logsDir } = workdirPaths(workdir);
  mkdirSync(logsDir, { recursive: true, mode: 0o700 });
  const stamp = (options.now ?? new Date()).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z").replace("T", "_");
  let file = join(logsDir, `hoist_${stamp}.log`);
  for (let n = 2; existsSync(file); n++) file = join(logsDir, `hoist_${stamp}_${n}.log`);
  const logger = createLogger({
    file,
    console: options.console === undefined ? process.stderr : options.console,
    consoleLevel: options.verbose ? "debug" : "warn",
    secrets: (options.secrets ?? []).filter((s) => s !== ""),
  });
  return { file, logger };
}

/**
 * Replaces a file so a reader (or a crash) sees either the old or the new
 * content, never half of it: write a temporary file beside it, fsync, rename.
 */
export function writeFileAtomic(file: string, content: string, mode = 0o600): void {
  const tmp = join(dirname(file), `.${file.split("/").pop()}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  // The rename itself must reach the disk too, or a power cut can bring the old file back.
  try {
    const dirFd = openSync(dirname(file), "r");
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  }
}

// One structured logger for every process. Lines are JSON in log files and
// short human text on a terminal; scope fields (jobId, disk, …) ride along on
// child loggers. Secrets are redacted here, at the last step, so no caller can
// forget to.
import { appendFileSync } from "node:fs";

export type LogLevel = "debug" | "info" | "warn" | "error";
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(scope: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  /** Append JSON lines here (every level). */
  file?: string;
  /** Human lines go to this stream at or above `consoleLevel`. */
  console?: NodeJS.WritableStream | null;
  consoleLevel?: LogLevel;
  /** Values that must never be printed (tokens, keys). */
  secrets?: string[];
}

const SECRET_KEYS = /(token|secret|password|access_?key|secret_?key|authorization|api_?key)/i;
const REDACTED = "[redacted]";

/** A URL as a message may show it: the password of a `scheme://user:password@` is masked. */
export function maskUrlPassword(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#@]*?):[^/?#]*@/, "$1:***@");
}

export function redact(value: unknown, secrets: readonly string[], depth = 0): unknown {
  if (depth > 6) return value;
  if (typeof value === "string") {
    let out = value;
    for (const s of secrets) if (s.length >= 6 && out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, secrets, depth + 1));
  if (value instanceof Error) return redact({ message: value.message, ...(value as unknown as Record<string, unknown>) }, secrets, depth + 1);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEYS.test(k) && v !== undefined && v !== null && v !== "" ? REDACTED : redact(v, secrets, depth + 1);
    }
    return out;
  }
  return value;
}

class StructuredLogger implements Logger {
  constructor(
    private readonly options: LoggerOptions,
    private readonly scope: Record<string, unknown>,
    private readonly secrets: string[],
  ) {}

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.write("debug", msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.write("info", msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.write("warn", msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.write("error", msg, fields);
  }
  child(scope: Record<string, unknown>): Logger {
    return new StructuredLogger(this.options, { ...this.scope, ...scope }, this.secrets);
  }

  private write(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    const record = redact({ time: new Date().toISOString(), level, msg: msg, ...this.scope, ...fields }, this.secrets) as Record<string, unknown>;
    if (this.options.file) {
      try {
        appendFileSync(this.options.file, `${JSON.stringify(record)}\n`, { mode: 0o600 });
      } catch {
        // A full or missing log folder must not stop the migration itself.
      }
    }
    const stream = this.options.console;
    if (stream && LEVELS[level] >= LEVELS[this.options.consoleLevel ?? "info"]) {
      const { time: _t, level: _l, msg: m, ...rest } = record;
      const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : "";
      const tty = (stream as { isTTY?: boolean }).isTTY === true;
      const tag = level === "error" ? (tty ? "\x1b[31mERROR\x1b[0m " : "ERROR ") : level === "warn" ? (tty ? "\x1b[33mWARN\x1b[0m " : "WARN ") : "";
      stream.write(`${tag}${String(m)}${extra}\n`);
    }
  }
}

/** Registers more secrets on an existing logger tree (e.g. a token learnt later). */
export function createLogger(options: LoggerOptions = {}): Logger & { addSecret(s: string): void } {
  const secrets = [...(options.secrets ?? [])];
  const logger = new StructuredLogger(options, {}, secrets);
  return Object.assign(logger, {
    addSecret(s: string) {
      if (s && !secrets.includes(s)) secrets.push(s);
    },
  });
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

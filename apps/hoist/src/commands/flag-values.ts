// Parsers for flag values that every command shares: numbers written as plain
// decimal digits, ports, folders and files, URLs, host names, short text.
// commander runs them while it reads the command line, so a bad value stops
// the command before its action starts, with a stable code and a message that
// names the flag.
import { existsSync, statSync } from "node:fs";
import { isIP } from "node:net";
import { HoistError } from "@hoist/protocol";
import { maskUrlPassword } from "@hoist/runtime";

/** Longest path Linux takes (PATH_MAX). */
export const MAX_PATH = 4096;
/** Longest file name Linux takes (NAME_MAX). */
export const MAX_NAME = 255;
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A value as a message shows it: quoted, cut short. */
export function shown(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
}

/**
 * A whole number in [min, max], written as decimal digits only: no sign, space,
 * fraction, exponent (1e3) or hex (0x10), which Number() would quietly accept.
 */
export function wholeNumber(flag: string, min: number, max: number, code = "Config.InvalidNumber") {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d{1,16}$/.test(value) || n < min || n > max) {
      throw new HoistError(code, `${flag} must be a whole number from ${min} to ${max} (got ${shown(value)})`, { fix: `Pass ${flag} <n> with n from ${min} to ${max}, in plain digits.` });
    }
    return n;
  };
}

/** A TCP port; 0 (a free one) only where the command can listen on any. */
export function portNumber(flag: string, opts: { allowZero?: boolean } = {}) {
  return wholeNumber(flag, opts.allowZero ? 0 : 1, 65535, "Config.InvalidPort");
}

export interface PathRules {
  /** What must already be there: a folder, a file, nothing at all, or a folder or nothing (the default: a folder made if missing). */
  exists?: "dir" | "file" | "absent" | "dirOrAbsent";
  code?: string;
}

/** A path: not empty, at most PATH_MAX, no control characters; checked against the filesystem as asked. */
export function pathValue(flag: string, rules: PathRules = {}) {
  const code = rules.code ?? "Config.InvalidPath";
  return (value: string): string => {
    const bad = (why: string): never => {
      throw new HoistError(code, `${flag} ${why} (got ${shown(value)})`, { fix: `Pass ${flag} <path> naming ${rules.exists === "dir" ? "an existing folder" : rules.exists === "file" ? "an existing file" : "a path"}.` });
    };
    if (value.trim() === "") bad("must name a path");
    if (value.length > MAX_PATH) bad(`must be at most ${MAX_PATH} characters`);
    if (value.split("/").some((part) => Buffer.byteLength(part) > MAX_NAME)) bad(`must not have a name longer than ${MAX_NAME} bytes between slashes`);
    if (CONTROL.test(value)) bad("must not contain control characters");
    let kind: "dir" | "file" | "other" | "none" = "none";
    try {
      const st = statSync(value);
      kind = st.isDirectory() ? "dir" : st.isFile() ? "file" : "other";
    } catch {
      kind = existsSync(value) ? "other" : "none";
    }
    if (rules.exists === "dir" && kind !== "dir") bad(kind === "none" ? "must be an existing folder; there is nothing there" : "must be a folder, not a file");
    if (rules.exists === "file" && kind !== "file") bad(kind === "none" ? "must be an existing file; there is nothing there" : "must be a regular file");
    if (rules.exists === "absent" && kind !== "none") bad("must not exist yet");
    if ((rules.exists ?? "dirOrAbsent") === "dirOrAbsent" && kind !== "none" && kind !== "dir") bad("must be a folder (or not exist yet)");
    return value;
  };
}

/** An http:// or https:// URL with a host. */
/** A URL as a message shows it: a password in it is masked. */
export function shownUrl(value: string): string {
  return shown(maskUrlPassword(value));
}

/**
 * An http(s) URL with a host. A user name or password in it is refused (Hoist
 * authenticates with tokens, and fetch would not send them anyway); `base`
 * also refuses a query or fragment, for URLs that API paths are appended to.
 */
export function httpUrl(flag: string, code = "Config.InvalidUrl", opts: { base?: boolean } = {}) {
  return (value: string): string => {
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "" || value.length > 2048 || CONTROL.test(value)) {
      throw new HoistError(code, `${flag} must be an http:// or https:// URL with a host (got ${shownUrl(value)})`, { fix: `Pass ${flag} like https://host:port.` });
    }
    if (url.username !== "" || url.password !== "") {
      throw new HoistError(code, `${flag} must not carry a user name or password (got ${shownUrl(value)})`, { fix: `Pass ${flag} as https://host:port, without user:password@.` });
    }
    // A bare "?" or "#" leaves url.search and url.hash empty, so the text itself is what is checked.
    if (opts.base && /[?#]/.test(value)) {
      throw new HoistError(code, `${flag} must not have a query or fragment: API paths are added to it (got ${shownUrl(value)})`, { fix: `Pass ${flag} like https://host:port.` });
    }
    return value;
  };
}

const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** An IPv4 or IPv6 address or a DNS host name. */
export function hostValue(flag: string, code = "Config.InvalidHost") {
  return (value: string): string => {
    // A name of digits and dots only is a mistyped address, not a host name.
    if (isIP(value) === 0 && (!HOSTNAME.test(value) || /^[\d.]+$/.test(value))) {
      throw new HoistError(code, `${flag} must be an IP address or a host name (got ${shown(value)})`, { fix: `Pass ${flag} like 10.0.0.5, ::1 or receiver.example.com.` });
    }
    return value;
  };
}

/** Text of min–max characters without control characters. */
export function textValue(flag: string, opts: { min?: number; max: number; code?: string }) {
  const min = opts.min ?? 1;
  return (value: string): string => {
    if (value.trim().length < min || value.length > opts.max || CONTROL.test(value)) {
      throw new HoistError(opts.code ?? "Config.InvalidText", `${flag} must be text of ${min} to ${opts.max} characters without control characters (got ${shown(value)})`, {
        fix: `Pass ${flag} with ${min === 0 ? "at most" : `${min} to`} ${opts.max} characters.`,
      });
    }
    return value;
  };
}

/** A credential or id: 1–max printable ASCII characters without spaces. */
export function tokenValue(flag: string, opts: { max: number; code: string }) {
  return (value: string): string => {
    if (!/^[\x21-\x7e]+$/.test(value) || value.length > opts.max) {
      throw new HoistError(opts.code, `${flag} must be 1 to ${opts.max} printable characters without spaces (got ${value.length} characters)`, { fix: `Pass ${flag} exactly as it was handed out.` });
    }
    return value;
  };
}

/** The id of something on the server, as a path argument: it picks the route, so it must not be empty. */
export function idValue(what: string) {
  return (value: string): string => {
    if (value.trim() === "" || value.length > 128 || CONTROL.test(value)) {
      throw new HoistError("Config.InvalidId", `${what} must be an id of 1 to 128 characters, as the list shows it (got ${shown(value)})`, { fix: `Pass the ${what} from the list command.` });
    }
    return value;
  };
}

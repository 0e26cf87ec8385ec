// What every request must be before a route looks at it: a body that is JSON
// sent as application/json in UTF-8, within the size limit, not nested past
// reason, with no NUL character (PostgreSQL text cannot hold one) and no lone
// UTF-16 surrogate (it cannot be stored as UTF-8) in any name or value; and a
// query string in UTF-8 that names each of the route's parameters at most once.
// Anything else is refused here with its own code, before a route can act on it.
import { type IncomingMessage, STATUS_CODES, type Server } from "node:http";
import type { Duplex } from "node:stream";
import { HoistError } from "@hoist/protocol";
import type { Route } from "./router";

export const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Deeper than any request of this API nests (an inventory is 5 levels). */
export const MAX_BODY_DEPTH = 32;

/** The codes any request can be refused with, whatever its route. */
export const REQUEST_ERROR_CODES = ["Api.InvalidJson", "Api.InvalidBody", "Api.InvalidEncoding", "Api.UnsupportedMediaType", "Api.BodyTooLarge", "Api.InvalidParameter", "Api.HeadersTooLarge", "Api.BadRequest"] as const;

const tooLarge = () =>
  new HoistError("Api.BodyTooLarge", `the request body is larger than ${MAX_BODY_BYTES} bytes`, { fix: `Send at most ${MAX_BODY_BYTES / 1024 / 1024} MiB; no request of this API needs more.` });

/** application/json or application/<something>+json, in UTF-8 (the charset may be left out). */
function checkContentType(header: string | undefined): void {
  const fix = "Send the body as JSON in UTF-8 with the header Content-Type: application/json.";
  if (!header) throw new HoistError("Api.UnsupportedMediaType", "the request has a body but no Content-Type; this API takes application/json", { fix });
  const [type = "", ...params] = header.split(";").map((p) => p.trim().toLowerCase());
  if (type !== "application/json" && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) {
    throw new HoistError("Api.UnsupportedMediaType", `the request body is ${JSON.stringify(type.slice(0, 100))}; this API takes application/json`, { fix });
  }
  for (const p of params) {
    const [name, value = ""] = p.split("=").map((s) => s.trim().replace(/^"|"$/g, ""));
    if (name === "charset" && value !== "utf-8" && value !== "utf8") {
      throw new HoistError("Api.UnsupportedMediaType", `the request body is in charset ${JSON.stringify(value.slice(0, 40))}; this API takes UTF-8 only`, { fix });
    }
  }
}

function decodeUtf8(bytes: Buffer): string {
  try {
    // A UTF-8 byte order mark is allowed and dropped (RFC 8259 lets a parser ignore it).
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const utf16 = (bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff);
    let at = 0;
    // Find the first bad byte for the message by decoding ever longer prefixes in steps.
    for (let step = 1024; at < bytes.length; at += step) {
      try {
        new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.subarray(0, Math.min(bytes.length, at + step + 3)));
      } catch {
        break;
      }
    }
    throw new HoistError("Api.InvalidEncoding", utf16 ? "the request body is UTF-16 (it starts with a UTF-16 byte order mark); this API takes UTF-8" : `the request body is not valid UTF-8 (near byte ${at})`, {
      fix: "Encode the JSON body as UTF-8 (text in other encodings, such as Latin-1 or UTF-16, must be converted first).",
    });
  }
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function checkText(text: string, where: string): void {
  if (text.includes("\u0000")) throw new HoistError("Api.InvalidBody", `${where} contains a NUL character (\\u0000)`, { fix: `Remove the NUL character from ${where}.` });
  if (LONE_SURROGATE.test(text)) {
    throw new HoistError("Api.InvalidEncoding", `${where} contains a lone UTF-16 surrogate (an escape such as \\ud800 without its pair), which is not a character`, {
      fix: `Send ${where} as valid Unicode text.`,
    });
  }
}

/** Walks the parsed body (its depth is already bounded) for text no column can hold. */
function checkValue(root: unknown): void {
  const stack: { value: unknown; where: string }[] = [{ value: root, where: "body" }];
  while (stack.length > 0) {
    const { value, where } = stack.pop() as { value: unknown; where: string };
    if (typeof value === "string") checkText(value, where);
    if (typeof value !== "object" || value === null) continue;
    if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) stack.push({ value: v, where: `${where}[${i}]` });
    } else {
      for (const [k, v] of Object.entries(value)) {
        const at = where === "body" ? k : `${where}.${k}`;
        checkText(k, `the field name ${JSON.stringify(k.slice(0, 40))} in ${where}`);
        stack.push({ value: v, where: at });
      }
    }
  }
}

/** Refuses deep nesting before JSON.parse, whose recursion a hostile body could exhaust. */
function checkDepth(text: string): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_BODY_DEPTH) throw new HoistError("Api.InvalidBody", `the body nests deeper than ${MAX_BODY_DEPTH} levels (at character ${i})`, { fix: "Check the request against /v1/openapi.json." });
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

/** Parses a body already read: empty is undefined; anything else must be JSON in UTF-8. */
export function parseJsonBody(bytes: Buffer, contentType: string | undefined): unknown {
  if (bytes.length === 0 || (bytes.length < 64 && bytes.toString("latin1").trim() === "")) return undefined;
  checkContentType(contentType);
  const text = decodeUtf8(bytes);
  if (text.trim() === "") return undefined;
  checkDepth(text);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new HoistError("Api.InvalidJson", `the request body is not valid JSON: ${(e as Error).message.slice(0, 200)}`, { fix: "Send a JSON object with Content-Type: application/json (see /v1/openapi.json)." });
  }
  checkValue(value);
  return value;
}

/** Reads and parses a request's body, refusing more than MAX_BODY_BYTES before reading it when the size is announced. */
export function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const announced = Number(req.headers["content-length"] ?? 0);
  if (announced > MAX_BODY_BYTES) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        failed = true;
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on("error", reject);
    req.on("end", () => {
      if (failed) return;
      try {
        resolve(parseJsonBody(Buffer.concat(chunks), req.headers["content-type"]));
      } catch (e) {
        reject(e);
      }
    });
  });
}

/**
 * Checks the raw query string: every name and value is UTF-8 once decoded,
 * without NUL, and no parameter the route declares appears twice.
 */
export function checkQuery(route: Route, search: string): void {
  const seen = new Set<string>();
  const declared = new Set((route.query ?? []).map((q) => q.name));
  for (const pair of search.replace(/^\?/, "").split("&")) {
    if (pair === "") continue;
    const [rawName = "", rawValue = ""] = pair.split(/=(.*)/s);
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, " "));
      value = decodeURIComponent(rawValue.replace(/\+/g, " "));
    } catch {
      throw new HoistError("Api.InvalidEncoding", `the query parameter ${JSON.stringify(rawName.slice(0, 40))} is not valid percent-encoded UTF-8`, {
        fix: "Percent-encode each query value as UTF-8 (encodeURIComponent does).",
      });
    }
    if (name.includes("\u0000") || value.includes("\u0000")) throw new HoistError("Api.InvalidParameter", `${name.replace(/\u0000/g, "\\u0000")} contains a NUL byte`, { fix: `Pass ${name} as plain text.` });
    if (declared.has(name)) {
      if (seen.has(name)) throw new HoistError("Api.InvalidParameter", `${name} is given more than once`, { fix: `Pass ${name} once.` });
      seen.add(name);
    }
  }
}

/**
 * Requests Node refuses before any route sees them (a URL or headers past its
 * 16 KiB, or bytes that are not HTTP) are answered in the API's own form, with
 * a code, instead of a bare status line.
 */
export function answerClientErrors(server: Server): void {
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const tooLarge = err.code === "HPE_HEADER_OVERFLOW";
    const status = tooLarge ? 431 : 400;
    const body = JSON.stringify(
      tooLarge
        ? { code: "Api.HeadersTooLarge", message: "the request's URL and headers are larger than the server takes (16 KiB)", fix: "Shorten the query parameters; no filter of this API needs more than a few hundred characters.", retryable: false }
        : { code: "Api.BadRequest", message: "the request is not valid HTTP", fix: "Send HTTP/1.1 requests (see /v1/openapi.json).", retryable: false },
    );
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
}

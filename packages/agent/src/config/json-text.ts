// Parsing user_config.json text. JSON.parse's own messages change between
// Node versions and do not always say where the mistake is, so on failure a
// small scanner walks the text to find the first offending line and column.
import { readFileSync, statSync } from "node:fs";
import { HoistError } from "@hoist/protocol";

export interface JsonSyntaxProblem {
  line: number;
  column: number;
  message: string;
}

class Scanner {
  pos = 0;
  constructor(private readonly text: string) {}

  fail(message: string, at = this.pos): never {
    throw Object.assign(new Error(message), { at });
  }
  ws(): void {
    while (this.pos < this.text.length && " \t\r\n".includes(this.text[this.pos]!)) this.pos++;
  }
  value(): void {
    this.ws();
    const ch = this.text[this.pos];
    if (ch === undefined) this.fail("unexpected end of file; a value was expected");
    if (ch === "{") this.object();
    else if (ch === "[") this.array();
    else if (ch === '"') this.string();
    else if (ch === "-" || (ch >= "0" && ch <= "9")) this.number();
    else this.word(ch);
  }
  word(ch: string): void {
    for (const word of ["true", "false", "null"]) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return;
      }
    }
    this.fail(`unexpected character ${JSON.stringify(ch)}; a value (string, number, object, array, true, false or null) was expected`);
  }
  object(): void {
    this.list("}", () => {
      if (this.text[this.pos] !== '"') this.fail("a field name in double quotes was expected");
      this.string();
      this.ws();
      if (this.text[this.pos] !== ":") this.fail("a colon (:) was expected after the field name");
      this.pos++;
      this.value();
    });
  }
  array(): void {
    this.list("]", () => this.value());
  }
  /** The items of an object or array up to its closing `close`, separated by commas, none after the last. */
  list(close: "}" | "]", item: () => void): void {
    this.pos++;
    this.ws();
    if (this.text[this.pos] === close) {
      this.pos++;
      return;
    }
    for (;;) {
      this.ws();
      if (this.text[this.pos] === close) this.fail(`trailing comma before ${close}`);
      item();
      this.ws();
      const ch = this.text[this.pos];
      if (ch === ",") {
        this.pos++;
        continue;
      }
      if (ch === close) {
        this.pos++;
        return;
      }
      this.fail(ch === undefined ? `unexpected end of file; ${close} was expected` : `a comma (,) or ${close} was expected`);
    }
  }
  string(): void {
    const start = this.pos;
    this.pos++;
    while (this.pos < this.text.length) {
      const ch = this.text[this.pos]!;
      if (ch === '"') {
        this.pos++;
        return;
      }
      if (ch === "\n") this.fail("string not closed before the end of the line", start);
      if (ch === "\\") {
        const esc = this.text[this.pos + 1];
        if (esc === undefined || !'"\\/bfnrtu'.includes(esc)) this.fail("invalid escape in string (write \\\\ for a backslash)");
        if (esc === "u" && !/^[0-9a-fA-F]{4}$/.test(this.text.slice(this.pos + 2, this.pos + 6))) this.fail("\\u must be followed by 4 hex digits");
        this.pos += esc === "u" ? 6 : 2;
        continue;
      }
      if (ch < " ") this.fail("control character inside a string");
      this.pos++;
    }
    this.fail("string not closed", start);
  }
  number(): void {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(this.text.slice(this.pos));
    if (!m || m[0] === "-") this.fail("malformed number");
    this.pos += m[0].length;
  }
  document(): void {
    this.value();
    this.ws();
    if (this.pos < this.text.length) this.fail("unexpected text after the end of the JSON value");
  }
}

/** Where the first syntax error is, or undefined when the text is valid JSON. */
export function locateJsonError(text: string): JsonSyntaxProblem | undefined {
  const scanner = new Scanner(text);
  try {
    scanner.document();
    return undefined;
  } catch (e) {
    const at = (e as { at?: number }).at ?? scanner.pos;
    const before = text.slice(0, at);
    const line = before.split("\n").length;
    const column = at - before.lastIndexOf("\n");
    // The scanner recurses per level: a file nested thousands deep overflows it.
    return { line, column, message: e instanceof RangeError ? "the JSON nests too deeply" : (e as Error).message };
  }
}

/** A settings file is a few hundred bytes; anything past this is not one. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** The bytes of a settings file, refusing a folder or a file too large to be one (with `code`). */
export function readConfigBytes(file: string, code = "Config.InvalidJson"): Buffer {
  const st = statSync(file);
  if (!st.isFile()) throw new HoistError(code, `${file} is not a regular file`, { fix: `Make ${file} a text file, or remove it.` });
  if (st.size > MAX_CONFIG_BYTES) {
    throw new HoistError(code, `${file} is ${st.size} bytes; a settings file is never larger than ${MAX_CONFIG_BYTES}`, { fix: `Check that ${file} is the file meant; it should be small text.` });
  }
  return readFileSync(file);
}

/** The JSON path of the first string holding U+FFFD (where a byte that is not UTF-8 landed), if the text parses at all. */
function fieldWithReplacement(text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch {
    return undefined;
  }
  const stack: { v: unknown; at: string }[] = [{ v: value, at: "" }];
  while (stack.length) {
    const { v, at } = stack.pop() as { v: unknown; at: string };
    if (typeof v === "string" && v.includes("\ufffd")) return at || "the document";
    if (Array.isArray(v)) v.forEach((x, i) => void stack.push({ v: x, at: `${at}[${i}]` }));
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v).reverse()) stack.push({ v: x, at: at ? `${at}.${k}` : k });
  }
  return undefined;
}

/** Where the first byte that is not UTF-8 is, as a line and column of the text before it. */
function firstBadByte(bytes: Uint8Array): { offset: number; line: number; column: number } {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    let ok = need >= 0 && i + need < bytes.length;
    for (let k = 1; ok && k <= need; k++) ok = ((bytes[i + k] as number) & 0xc0) === 0x80;
    if (!ok) break;
    i += need + 1;
  }
  const before = new TextDecoder().decode(bytes.subarray(0, i));
  const lines = before.split("\n");
  return { offset: i, line: lines.length, column: (lines[lines.length - 1] ?? "").length + 1 };
}

/**
 * Turns a settings file's bytes into text: UTF-8, with or without a byte order
 * mark. Files saved as UTF-16 or in a legacy encoding (Latin-1, GBK, …) are
 * refused with Config.InvalidEncoding, since guessing would quietly change
 * names and paths.
 */
export function decodeConfigText(bytes: Uint8Array, file = "user_config.json"): string {
  const fix = `Save ${file} as UTF-8 (in Notepad: Save As, Encoding UTF-8; or iconv -f <encoding> -t UTF-8).`;
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw new HoistError("Config.InvalidEncoding", `${file} is saved as UTF-16; it must be UTF-8`, { fix, details: { file } });
  }
  // NUL bytes are valid UTF-8 but never text: UTF-16 without a byte order mark, or a binary file.
  if (bytes.includes(0)) throw new HoistError("Config.InvalidEncoding", `${file} holds NUL bytes: it is UTF-16 or not text; it must be UTF-8`, { fix, details: { file } });
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const at = firstBadByte(bytes);
    const field = fieldWithReplacement(new TextDecoder().decode(bytes));
    throw new HoistError(
      "Config.InvalidEncoding",
      `${file} is not UTF-8: line ${at.line}, column ${at.column}${field ? ` (in ${field})` : ""} holds the byte 0x${(bytes[at.offset] ?? 0).toString(16).padStart(2, "0")}, which UTF-8 text cannot`,
      { fix, details: { file, line: at.line, column: at.column, ...(field ? { field } : {}) } },
    );
  }
}

/** Parses user_config.json text; a syntax error becomes Config.InvalidJson naming the line and column. */
export function parseConfigJson(text: string, file = "user_config.json"): unknown {
  // Editors on Windows often save with a byte order mark.
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(body);
  } catch (e) {
    const where = locateJsonError(body) ?? { line: 1, column: 1, message: (e as Error).message };
    throw new HoistError("Config.InvalidJson", `${file} is not valid JSON: line ${where.line}, column ${where.column}: ${where.message}`, {
      fix: `Correct ${file} at line ${where.line}, column ${where.column} (JSON needs double quotes around names and strings and no trailing commas; see RFC 7159).`,
      details: { file, line: where.line, column: where.column },
    });
  }
}

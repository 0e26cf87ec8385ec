// Parsing user_config.json text. JSON.parse's own messages change between
// Node versions and do not always say where the mistake is, so on failure a
// small scanner walks the text to find the first offending line and column.
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
    this.pos++;
    this.ws();
    if (this.text[this.pos] === "}") {
      this.pos++;
      return;
    }
    for (;;) {
      this.ws();
      if (this.text[this.pos] === "}") this.fail("trailing comma before }");
      if (this.text[this.pos] !== '"') this.fail("a field name in double quotes was expected");
      this.string();
      this.ws();
      if (this.text[this.pos] !== ":") this.fail("a colon (:) was expected after the field name");
      this.pos++;
      this.value();
      this.ws();
      const ch = this.text[this.pos];
      if (ch === ",") {
        this.pos++;
        continue;
      }
      if (ch === "}") {
        this.pos++;
        return;
      }
      this.fail(ch === undefined ? "unexpected end of file; } was expected" : "a comma (,) or } was expected");
    }
  }
  array(): void {
    this.pos++;
    this.ws();
    if (this.text[this.pos] === "]") {
      this.pos++;
      return;
    }
    for (;;) {
      this.ws();
      if (this.text[this.pos] === "]") this.fail("trailing comma before ]");
      this.value();
      this.ws();
      const ch = this.text[this.pos];
      if (ch === ",") {
        this.pos++;
        continue;
      }
      if (ch === "]") {
        this.pos++;
        return;
      }
      this.fail(ch === undefined ? "unexpected end of file; ] was expected" : "a comma (,) or ] was expected");
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
    return { line, column, message: (e as Error).message };
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

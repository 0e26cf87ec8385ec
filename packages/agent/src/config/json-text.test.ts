import { describe, expect, it } from "vitest";
import { locateJsonError, parseConfigJson } from "./json-text";

describe("locateJsonError", () => {
  it("finds nothing wrong in valid JSON", () => {
    expect(locateJsonError('{"a": [1, -2.5e3, "x\\n", true, null, {}]}')).toBeUndefined();
  });
  it.each([
    ['{"a": 1,}', 1, 9, "trailing comma"],
    ['{\n  "a": 1\n  "b": 2\n}', 3, 3, "comma"],
    ["{\n  a: 1\n}", 2, 3, "double quotes"],
    ['{"a": tru}', 1, 7, "unexpected character"],
    ['{"a": "x}', 1, 7, "string not closed"],
    ['{"a": 1} x', 1, 10, "after the end"],
    ['{"a": 01}', 1, 8, "comma"],
    ["", 1, 1, "end of file"],
  ])("locates the error in %j", (text, line, column, words) => {
    const p = locateJsonError(text);
    expect(p).toMatchObject({ line, column });
    expect(p?.message).toContain(words);
  });
});

describe("parseConfigJson", () => {
  it("skips a byte order mark", () => {
    expect(parseConfigJson('\ufeff{"image_name": "a1"}')).toEqual({ image_name: "a1" });
  });
  it("throws Config.InvalidJson with where and how to fix", () => {
    expect(() => parseConfigJson('{"a": 1,}', "/w/user_config.json")).toThrow(
      expect.objectContaining({ code: "Config.InvalidJson", message: expect.stringContaining("/w/user_config.json is not valid JSON: line 1, column 9"), fix: expect.stringContaining("line 1, column 9") }),
    );
  });
});

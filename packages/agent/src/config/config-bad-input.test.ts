// Bad values for every user_config.json field and bad Excludes files, read the
// way `hoist migrate` reads them first (prepareMigration, before anything is
// created): wrong types, out of range, empty, huge, in another encoding, and
// files malformed as a whole. Each is refused with its stable code and a
// message naming the field, and the working folder is left exactly as it was
// (no client_data, no token, no Logs/). The fields come from the schema, so a
// field added without bad values here fails the first test.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ConfigProblem, isHoistError, UserConfigSchema } from "@hoist/protocol";
import { afterAll, describe, expect, it } from "vitest";
import { prepareMigration } from "./prepare";

const MB = "x".repeat(1024 * 1024);
/** JSON written into the file as these bytes, not as a value JSON.stringify would write. */
class Raw {
  constructor(readonly bytes: Buffer) {}
}
/** The string "café" with é as the one Latin-1 byte 0xE9. */
const LATIN1 = new Raw(Buffer.from([0x22, 0x63, 0x61, 0x66, 0xe9, 0x22]));
const raw = (text: string): Raw => new Raw(Buffer.from(text));
type Value = unknown;

const base = mkdtempSync("/var/tmp/hoist-config-bad-input-");
const source = join(base, "source");
mkdirSync(source);
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** A user_config.json that passes, so each case differs from it in one field. */
const GOOD: Record<string, unknown> = {
  access_id: "",
  secret_key: "",
  region_id: "local",
  image_name: "bad-input-image",
  system_disk_size: 40,
  platform: "Debian",
  architecture: "x86_64",
  bandwidth_limit: 0,
  data_disks: [{ data_disk_index: 1, data_disk_size: 100, src_path: "/mnt/disk1" }],
  compression_level: 7,
  checksum: false,
  parallel_streams: 4,
  boot_mode: "auto",
  filesystem: "ext4",
  lvm: false,
  separate_boot: false,
  block_replication: [],
};

type Case = [what: string, value: Value, code: string];
const cases = (code: string, list: [string, Value][]): Case[] => list.map(([what, value]) => [what, value, code]);
const wrongTypes = (code: string, except: string): Case[] =>
  cases(
    code,
    (
      [
        ["a number", 5],
        ["text", "5"],
        ["a boolean", true],
        ["a list", []],
        ["an object", {}],
      ] as [string, Value][]
    ).filter(([what]) => what !== except),
  );

// Every field of the schema: its bad values and the code each must get.
const FIELDS: Record<string, Case[]> = {
  access_id: [...wrongTypes("Config.InvalidAccessId", "text"), ...cases("Config.InvalidAccessId", [["1 MB", MB], ["a space", "LTAI 123"], ["a newline", "LTAI\n"]]), ["Latin-1", LATIN1, "Config.InvalidEncoding"]],
  secret_key: [...wrongTypes("Config.InvalidSecretKey", "text"), ...cases("Config.InvalidSecretKey", [["1 MB", MB], ["a space", "abc def"], ["non-ASCII", "sécret"]]), ["Latin-1", LATIN1, "Config.InvalidEncoding"]],
  region_id: [...wrongTypes("Config.InvalidRegionId", "text"), ...cases("Config.InvalidRegionId", [["1 MB", MB], ["capitals", "CN-Hangzhou"], ["an underscore", "cn_hangzhou"]]), ["Latin-1", LATIN1, "Config.InvalidEncoding"]],
  image_name: [...wrongTypes("Config.InvalidImageName", "text"), ...cases("Config.InvalidImageName", [["empty", ""], ["one letter", "a"], ["1 MB", MB], ["a slash", "a/b"]]), ["Latin-1", LATIN1, "Config.InvalidEncoding"]],
  system_disk_size: [
    ...wrongTypes("Config.InvalidSystemDiskSize", "a number"),
    ...cases("Config.InvalidSystemDiskSize", [["19", 19], ["501", 501], ["a fraction", 40.5], ["negative", -40], ["1e400", raw("1e400")], ["1 MB of digits", raw(MB.replace(/x/g, "9"))]]),
  ],
  platform: [...wrongTypes("Config.InvalidPlatform", "text"), ...cases("Config.InvalidPlatform", [["lower case", "debian"], ["unknown", "Linux"], ["1 MB", MB]]), ["Latin-1", LATIN1, "Config.InvalidEncoding"]],
  architecture: [...wrongTypes("Config.InvalidArchitecture", "text"), ...cases("Config.InvalidArchitecture", [["unknown", "arm64"], ["1 MB", MB]]), ["Latin-1", LATIN1, "Config.InvalidEncoding"]],
  bandwidth_limit: [...wrongTypes("Config.InvalidBandwidthLimit", "a number"), ...cases("Config.InvalidBandwidthLimit", [["negative", -1], ["a fraction", 1.5], ["past the limit", 12_500_001], ["1e20", 1e20]])],
  data_disks: [
    ...wrongTypes("Config.InvalidDataDisks", "a list"),
    ["a number in the list", [5], "Config.InvalidDataDisks"],
    ["17 disks", Array.from({ length: 17 }, (_, i) => ({ data_disk_index: (i % 16) + 1, src_path: `/mnt/d${i}` })), "Config.TooManyDataDisks"],
    ["index 0", [{ data_disk_index: 0, src_path: "/mnt/d" }], "Config.InvalidDataDiskIndex"],
    ["index as text", [{ data_disk_index: "1", src_path: "/mnt/d" }], "Config.InvalidDataDiskIndex"],
    ["size 19", [{ data_disk_index: 1, data_disk_size: 19, src_path: "/mnt/d" }], "Config.InvalidDataDiskSize"],
    ["size past 32768", [{ data_disk_index: 1, data_disk_size: 32769, src_path: "/mnt/d" }], "Config.InvalidDataDiskSize"],
    ["no src_path", [{ data_disk_index: 1 }], "Config.InvalidSrcPath"],
    ["an empty src_path", [{ data_disk_index: 1, src_path: "" }], "Config.InvalidSrcPath"],
    ["a 1 MB src_path", [{ data_disk_index: 1, src_path: `/${MB}` }], "Config.InvalidSrcPath"],
    ["a relative src_path", [{ data_disk_index: 1, src_path: "mnt/d" }], "Config.InvalidSrcPath"],
    ["src_path /etc", [{ data_disk_index: 1, src_path: "/etc" }], "Config.InvalidSrcPath"],
    ["one index twice", [{ data_disk_index: 1, src_path: "/mnt/a" }, { data_disk_index: 1, src_path: "/mnt/b" }], "Config.DuplicateDataDiskIndex"],
    ["a Latin-1 src_path", [{ data_disk_index: 1, src_path: LATIN1 }], "Config.InvalidEncoding"],
  ],
  compression_level: [...wrongTypes("Config.InvalidCompressionLevel", "a number"), ...cases("Config.InvalidCompressionLevel", [["-1", -1], ["11", 11], ["a fraction", 1.5]])],
  checksum: [...wrongTypes("Config.InvalidChecksum", "a boolean"), ["the text true", "true", "Config.InvalidChecksum"]],
  parallel_streams: [...wrongTypes("Config.InvalidParallelStreams", "a number"), ...cases("Config.InvalidParallelStreams", [["0", 0], ["17", 17], ["a fraction", 2.5]])],
  boot_mode: [...wrongTypes("Config.InvalidBootMode", "text"), ...cases("Config.InvalidBootMode", [["empty", ""], ["capitals", "BIOS"], ["1 MB", MB]]), ["Latin-1", LATIN1, "Config.InvalidEncoding"]],
  filesystem: [...wrongTypes("Config.InvalidFilesystem", "text"), ...cases("Config.InvalidFilesystem", [["empty", ""], ["btrfs", "btrfs"], ["1 MB", MB]]), ["Latin-1", LATIN1, "Config.InvalidEncoding"]],
  lvm: [...wrongTypes("Config.InvalidLvm", "a boolean"), ["the text yes", "yes", "Config.InvalidLvm"]],
  separate_boot: [...wrongTypes("Config.InvalidSeparateBoot", "a boolean"), ["1", 1, "Config.InvalidSeparateBoot"]],
  block_replication: [
    ...wrongTypes("Config.InvalidBlockReplication", "a list"),
    ...cases("Config.InvalidBlockReplication", [["a number in the list", [1]], ["a folder that is no disk", ["/srv"]], ["1 MB", [`/${MB}`]], ["empty text", [""]]]),
    ["a Latin-1 entry", [LATIN1], "Config.InvalidEncoding"],
  ],
};

/** user_config.json bytes with `field` set to `value`; each Raw inside it is written as its bytes. */
function configBytes(field: string, value: Value): Buffer {
  const raws: Raw[] = [];
  const swap = (v: unknown): unknown => {
    if (v instanceof Raw) return `\u0001raw${raws.push(v) - 1}\u0001`;
    if (Array.isArray(v)) return v.map(swap);
    return v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, swap(x)])) : v;
  };
  const text = JSON.stringify({ ...GOOD, [field]: swap(value) }, null, 2);
  const parts = text.split(/"\\u0001raw(\d+)\\u0001"/);
  return Buffer.concat(parts.map((p, i) => (i % 2 === 0 ? Buffer.from(p) : (raws[Number(p)] as Raw).bytes)));
}

let n = 0;
function workdir(config: Buffer | string, excludes: Record<string, Buffer | string> = {}): string {
  const dir = join(base, `w${++n}`);
  mkdirSync(join(dir, "Excludes"), { recursive: true });
  writeFileSync(join(dir, "user_config.json"), config);
  for (const [name, content] of Object.entries(excludes)) {
    if (content === "<dir>") mkdirSync(join(dir, "Excludes", name));
    else writeFileSync(join(dir, "Excludes", name), content);
  }
  return dir;
}

function listing(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, encoding: "utf8" }) as string[]).sort().map((f) => `${f} ${statSync(join(dir, f)).size}`);
}

interface Refusal {
  code: string;
  problems: ConfigProblem[];
  message: string;
}

/** Reads the folder as `hoist migrate` does first; the codes it refused with, checking nothing was written. */
function refusal(dir: string): Refusal | "accepted" {
  const before = listing(dir);
  try {
    prepareMigration({ workdir: dir, flags: { sourceRoot: source } });
    return "accepted";
  } catch (e) {
    if (!isHoistError(e)) throw e;
    expect(listing(dir)).toEqual(before);
    return { code: e.code, problems: (e.details?.problems as ConfigProblem[] | undefined) ?? [], message: e.message };
  }
}

describe("bad user_config.json fields", () => {
  it("has bad values for every field of the schema", () => {
    expect(Object.keys(UserConfigSchema.shape).filter((f) => !FIELDS[f])).toEqual([]);
    expect(Object.keys(FIELDS).filter((f) => !(f in UserConfigSchema.shape))).toEqual([]);
  });

  it("accepts the good file the cases start from", () => {
    expect(refusal(workdir(JSON.stringify(GOOD)))).toBe("accepted");
  });

  it("refuses each bad value with its code and a message naming the field, writing nothing", () => {
    const wrong: string[] = [];
    for (const [field, list] of Object.entries(FIELDS)) {
      for (const [what, value, code] of list) {
        const r = refusal(workdir(configBytes(field, value)));
        const label = `${field} = ${what}`;
        if (r === "accepted") {
          wrong.push(`${label}: accepted`);
          continue;
        }
        if (code === "Config.InvalidEncoding") {
          if (r.code !== code || !r.message.includes(field)) wrong.push(`${label}: ${r.code}: ${r.message.slice(0, 160)}`);
          continue;
        }
        const p = r.problems.find((x) => x.code === code);
        if (r.code !== "Config.Invalid" || !p) wrong.push(`${label}: wanted ${code}, got ${r.code} ${r.problems.map((x) => x.code).join(",")}`);
        else if (!p.field.startsWith(field) || !p.message.includes(field)) wrong.push(`${label}: the problem does not name ${field}: ${p.field}: ${p.message.slice(0, 160)}`);
        else if (p.message.length > 1000 || r.message.length > 4000) wrong.push(`${label}: the message repeats the huge value (${r.message.length} characters)`);
        else if ((field === "secret_key" || field === "access_id") && typeof value === "string" && value.length > 1 && (r.message.includes(value) || JSON.stringify(r.problems).includes(value))) {
          wrong.push(`${label}: the secret is in the message`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe("bad user_config.json files", () => {
  const good = JSON.stringify(GOOD, null, 2);
  const FILES: [what: string, content: Buffer | string, code: string][] = [
    ["empty", "", "Config.InvalidJson"],
    ["only spaces", "  \n ", "Config.InvalidJson"],
    ["cut short", good.slice(0, -5), "Config.InvalidJson"],
    ["a trailing comma", good.replace(/\n}$/, ",\n}"), "Config.InvalidJson"],
    ["single quotes", good.replace(/"/g, "'"), "Config.InvalidJson"],
    ["a comment", `// settings\n${good}`, "Config.InvalidJson"],
    ["a list", "[]", "Config.InvalidJson"],
    ["null", "null", "Config.InvalidJson"],
    ["a number", "42", "Config.InvalidJson"],
    ["100 000 nested lists", `${"[".repeat(100_000)}${"]".repeat(100_000)}`, "Config.InvalidJson"],
    ["5 MiB", `${good.slice(0, -1)}, "pad": "${"x".repeat(5 * 1024 * 1024)}"}`, "Config.InvalidJson"],
    ["UTF-16 with a byte order mark", Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(good, "utf16le")]), "Config.InvalidEncoding"],
    ["UTF-16 big-endian with a byte order mark", Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(good, "utf16le").swap16()]), "Config.InvalidEncoding"],
    ["UTF-16 without a byte order mark", Buffer.from(good, "utf16le"), "Config.InvalidEncoding"],
    ["Latin-1 in a name", Buffer.from(good.replace("bad-input-image", "caf\u00e9"), "latin1"), "Config.InvalidEncoding"],
    ["GBK in a name", Buffer.concat([Buffer.from(good.slice(0, good.indexOf("bad-input-image"))), Buffer.from([0xc7, 0xa8, 0xd2, 0xc6]), Buffer.from(good.slice(good.indexOf("bad-input-image") + 15))]), "Config.InvalidEncoding"],
  ];

  it.each(FILES)("refuses a file that is %s, writing nothing", (_what, content, code) => {
    const r = refusal(workdir(content));
    expect(r).not.toBe("accepted");
    expect((r as Refusal).code).toBe(code);
    expect((r as Refusal).message).toContain("user_config.json");
  });

  it("accepts UTF-8 with a byte order mark, as Windows editors save it", () => {
    expect(refusal(workdir(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(good)])))).toBe("accepted");
  });

  it("refuses a folder where user_config.json should be", () => {
    const dir = join(base, `w${++n}`);
    mkdirSync(join(dir, "user_config.json"), { recursive: true });
    expect(refusal(dir)).toMatchObject({ code: "Config.InvalidJson" });
  });
});

describe("bad Excludes files", () => {
  const config = JSON.stringify(GOOD);
  const EXCLUDES: [what: string, name: string, content: Buffer | string, code: string][] = [
    ["a .. pattern", "rsync_excludes_linux.txt", "/var/cache/\n../etc\n", "Config.InvalidExclude"],
    ["a line of 5000 characters", "rsync_excludes_linux.txt", `/${"x".repeat(5000)}\n`, "Config.InvalidExclude"],
    ["a control character", "rsync_excludes_linux.txt", "/var/\u0007cache\n", "Config.InvalidExclude"],
    ["Latin-1", "rsync_excludes_linux.txt", Buffer.from("/srv/caf\u00e9/\n", "latin1"), "Config.InvalidEncoding"],
    ["UTF-16", "rsync_excludes_linux.txt", Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("/var/cache/\n", "utf16le")]), "Config.InvalidEncoding"],
    ["a folder", "rsync_excludes_linux.txt", "<dir>", "Config.InvalidExclude"],
    ["5 MiB", "rsync_excludes_linux.txt", "/x\n".repeat(2 * 1024 * 1024), "Config.InvalidExclude"],
    ["a data disk's file with a .. pattern", "rsync_excludes_linux_disk1.txt", "docs/../../etc\n", "Config.InvalidExclude"],
    ["a data disk's file in Latin-1", "rsync_excludes_linux_disk1.txt", Buffer.from("caf\u00e9/\n", "latin1"), "Config.InvalidEncoding"],
  ];

  it.each(EXCLUDES)("refuses %s, naming the file and writing nothing", (_what, name, content, code) => {
    const r = refusal(workdir(config, { [name]: content }));
    expect(r).not.toBe("accepted");
    expect((r as Refusal).code).toBe(code);
    expect((r as Refusal).message).toContain(name);
  });

  it("accepts comments, blank lines and UTF-8 names", () => {
    expect(refusal(workdir(config, { "rsync_excludes_linux.txt": "# caches\n\n/var/cache/\n/srv/café/\n", "rsync_excludes_linux_disk1.txt": "tmp/\n" }))).toBe("accepted");
  });
});

import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConfigProblem, HoistError } from "@hoist/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseMigrateFlags } from "./flags";
import { parseDataDisksFlag, resolveMigrateConfig } from "./resolve";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hoist-config-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function writeConfig(value: unknown): void {
  writeFileSync(join(dir, "user_config.json"), typeof value === "string" ? value : JSON.stringify(value, null, 2));
}

function problemsOf(fn: () => unknown): ConfigProblem[] {
  try {
    fn();
  } catch (e) {
    const err = e as HoistError;
    expect(err.code).toBe("Config.Invalid");
    return err.details?.problems as ConfigProblem[];
  }
  throw new Error("expected Config.Invalid");
}

function resolveWith(argv: string[]) {
  return resolveMigrateConfig({ workdir: dir, flags: parseMigrateFlags(argv) });
}

describe("parseMigrateFlags", () => {
  it("reads every go2aliyun_client flag and Hoist's own", () => {
    const f = parseMigrateFlags([
      "--accessid=AK",
      "--secretkey",
      "SK",
      "--regionid=cn-hangzhou",
      "--imagename=img",
      "--systemdisksize=60",
      "--platform=Debian",
      "--datadisks=1|100|/mnt/disk1;2|150|/mnt/disk2",
      "--bandwidthlimit=500",
      "--netmode=1",
      "--vpcid=vpc-abc",
      "--vswitchid=vsw-abc",
      "--zoneid=cn-hangzhou-h",
      "--securegroupid=sg-abc",
      "--cleardata",
      "--abort",
      "--verbose",
      "--progressfile",
      "/tmp/p",
      "--nocheckversion",
      "--noenterkey",
      "--workdir=/w",
      "--source-root=/s",
      "--compression=3",
      "--checksum",
      "--streams=2",
      "--yes",
    ]);
    expect(f).toEqual({
      accessid: "AK",
      secretkey: "SK",
      regionid: "cn-hangzhou",
      imagename: "img",
      systemdisksize: "60",
      platform: "Debian",
      datadisks: "1|100|/mnt/disk1;2|150|/mnt/disk2",
      bandwidthlimit: "500",
      netmode: "1",
      vpcid: "vpc-abc",
      vswitchid: "vsw-abc",
      zoneid: "cn-hangzhou-h",
      securegroupid: "sg-abc",
      cleardata: true,
      abort: true,
      verbose: true,
      progressfile: "/tmp/p",
      nocheckversion: true,
      noenterkey: true,
      workdir: "/w",
      sourceRoot: "/s",
      compression: "3",
      checksum: true,
      streams: "2",
      yes: true,
    });
  });
  it("refuses unknown flags and missing values with stable codes", () => {
    expect(() => parseMigrateFlags(["--imagenam=x"])).toThrow(expect.objectContaining({ code: "Config.UnknownFlag" }));
    expect(() => parseMigrateFlags(["--imagename"])).toThrow(expect.objectContaining({ code: "Config.InvalidFlag" }));
  });
});

describe("parseDataDisksFlag", () => {
  it("parses the seed's grammar", () => {
    expect(parseDataDisksFlag("1|100|/mnt/disk1;2|150|/mnt/disk2")).toEqual({
      disks: [
        { data_disk_index: 1, data_disk_size: 100, src_path: "/mnt/disk1" },
        { data_disk_index: 2, data_disk_size: 150, src_path: "/mnt/disk2" },
      ],
      problems: [],
    });
  });
  it("accepts a trailing separator and an empty list", () => {
    expect(parseDataDisksFlag("1|100|/a;").disks).toHaveLength(1);
    expect(parseDataDisksFlag("")).toEqual({ disks: [], problems: [] });
  });
  it.each([["1|100"], ["1|100|/a|x"], ["1||/a"], ["/mnt/disk1"], ["1|100|/a;;2|100|/b"], ["1,100,/a"]])("refuses %j", (value) => {
    const { problems } = parseDataDisksFlag(value);
    expect(problems.map((p) => p.code)).toEqual(["Config.InvalidDataDisksFlag"]);
    expect(problems[0]!.message).toContain("index|size_GiB|src_path");
  });
});

describe("resolveMigrateConfig", () => {
  it("merges file, flags and defaults", () => {
    writeConfig({ image_name: "from-file", system_disk_size: 50, platform: "CentOS", data_disks: [{ data_disk_index: 1, data_disk_size: 100, src_path: "/data" }] });
    const c = resolveWith(["--imagename=from-flag", "--streams=8", "--checksum", "--source-root", dir]);
    expect(c.settings).toMatchObject({ image_name: "from-flag", system_disk_size: 50, platform: "CentOS", parallel_streams: 8, checksum: true, compression_level: 7 });
    expect(c.settings.data_disks).toEqual([{ data_disk_index: 1, data_disk_size: 100, src_path: "/data" }]);
    expect(c).toMatchObject({ provider: "local", workdir: dir, sourceRoot: dir, clearData: false, waitForEnterKey: true, checkVersion: true });
    expect(c.paths.clientData).toBe(join(dir, "client_data"));
  });

  it.each([
    ["--systemdisksize=600", "Config.InvalidSystemDiskSize"],
    ["--systemdisksize=abc", "Config.InvalidSystemDiskSize"],
    ["--imagename=9lives", "Config.InvalidImageName"],
    ["--platform=debian", "Config.InvalidPlatform"],
    ["--bandwidthlimit=-1", "Config.InvalidBandwidthLimit"],
    ["--compression=11", "Config.InvalidCompressionLevel"],
    ["--streams=0", "Config.InvalidParallelStreams"],
    ["--regionid=Mars", "Config.InvalidRegionId"],
    ["--datadisks=1|10|/data", "Config.InvalidDataDiskSize"],
    ["--datadisks=0|100|/data", "Config.InvalidDataDiskIndex"],
    ["--datadisks=1|100|/etc", "Config.InvalidSrcPath"],
    ["--datadisks=1|100|/a;1|100|/b", "Config.DuplicateDataDiskIndex"],
    ["--datadisks=1-100-/a", "Config.InvalidDataDisksFlag"],
    ["--netmode=3", "Config.InvalidNetMode"],
    ["--netmode=1", "Config.InvalidNetMode"],
    ["--vpcid=abc", "Config.InvalidVpcId"],
    ["--securegroupid=SG_1", "Config.InvalidSecurityGroupId"],
    ["--source-root=/does/not/exist", "Config.InvalidSourceRoot"],
  ])("refuses %s with %s and names the flag", (flag, code) => {
    writeConfig({ image_name: "good-name" });
    const problems = problemsOf(() => resolveWith([flag, `--source-root=${dir}`].reverse()));
    expect(problems.map((p) => p.code)).toEqual([code]);
    expect(problems[0]!.message).toContain(flag.split("=")[0]!);
  });

  it("lets a good flag fix a bad file value", () => {
    writeConfig({ image_name: "1bad" });
    expect(resolveWith(["--imagename=good", `--source-root=${dir}`]).settings.image_name).toBe("good");
  });

  it("reports every file and flag problem in one error", () => {
    writeConfig({ image_name: "", system_disk_size: 10, platform: "centos", data_disks: [{ data_disk_index: 1, data_disk_size: 100, src_path: "/boot" }] });
    const problems = problemsOf(() => resolveWith(["--streams=99", "--netmode=7", `--source-root=${dir}`]));
    expect(problems.map((p) => p.code).sort()).toEqual(
      ["Config.InvalidImageName", "Config.InvalidSystemDiskSize", "Config.InvalidPlatform", "Config.InvalidSrcPath", "Config.InvalidParallelStreams", "Config.InvalidNetMode"].sort(),
    );
  });

  it("puts each code in the message so a user sees them all", () => {
    writeConfig({ image_name: "", system_disk_size: 10 });
    try {
      resolveWith([`--source-root=${dir}`]);
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toContain("Config.InvalidImageName: image_name must be");
      expect((e as Error).message).toContain("Config.InvalidSystemDiskSize: system_disk_size must be");
    }
  });

  it("gives the line and column of a JSON syntax error", () => {
    writeConfig('{\n  "image_name": "x",\n  "system_disk_size": 40,\n}\n');
    expect(() => resolveWith([])).toThrow(expect.objectContaining({ code: "Config.InvalidJson", details: expect.objectContaining({ line: 4, column: 1 }) }));
    writeConfig("{\n  'image_name': 'x'\n}");
    expect(() => resolveWith([])).toThrow(expect.objectContaining({ code: "Config.InvalidJson", message: expect.stringContaining("line 2, column 3") }));
  });

  it("refuses a JSON document that is not an object", () => {
    writeConfig("[]");
    expect(() => resolveWith([])).toThrow(expect.objectContaining({ code: "Config.InvalidJson" }));
  });

  it("requires keys for a cloud region and never echoes them", () => {
    writeConfig({ image_name: "img", region_id: "cn-hangzhou", access_id: "LTAI5tAbCdEfGh" });
    const problems = problemsOf(() => resolveWith([`--source-root=${dir}`]));
    expect(problems.map((p) => p.code)).toEqual(["Config.MissingAccessKey"]);
    expect(JSON.stringify(problems)).not.toContain("LTAI5tAbCdEfGh");
  });

  it("works without user_config.json when flags say enough, and creates nothing", () => {
    const c = resolveWith(["--imagename=only-flags", `--source-root=${dir}`]);
    expect(c.settings.image_name).toBe("only-flags");
    expect(c.warnings[0]).toContain("does not exist");
    expect(readdirSync(dir)).toEqual([]);
  });

  it("warns about unknown fields", () => {
    writeConfig({ image_name: "img", colour: "blue" });
    expect(resolveWith([`--source-root=${dir}`]).warnings).toContain("colour is not a known user_config.json field and is ignored");
  });
});

import { describe, expect, it } from "vitest";
import { seedLinuxUserConfig } from "../../../test/helpers/user-config";
import { validateUserConfig } from "./user-config";

const base = { image_name: "CLIENT_IMAGE_CENTOS72_01" };

function codes(raw: unknown): string[] {
  return validateUserConfig(raw).problems.map((p) => p.code);
}

function only(raw: Record<string, unknown>) {
  const r = validateUserConfig({ ...base, ...raw });
  expect(r.problems).toHaveLength(1);
  return r.problems[0]!;
}

describe("validateUserConfig", () => {
  it("accepts the seed's Linux scenario with data disks and fills defaults", () => {
    const seed = seedLinuxUserConfig();
    // A trailing slash on a data disk's path is dropped.
    const r = validateUserConfig({ ...seed, data_disks: [seed.data_disks[0], { ...seed.data_disks[1], src_path: "/mnt/disk2/" }] });
    expect(r.problems).toEqual([]);
    expect(r.config).toMatchObject({
      region_id: "local",
      system_disk_size: 50,
      platform: "CentOS",
      compression_level: 7,
      parallel_streams: 4,
      checksum: false,
      boot_mode: "auto",
      filesystem: "ext4",
      lvm: false,
      separate_boot: false,
    });
    expect(r.config?.data_disks[1]?.src_path).toBe("/mnt/disk2");
  });

  it("defaults system_disk_size to 40 and region to local", () => {
    const r = validateUserConfig(base);
    expect(r.config?.system_disk_size).toBe(40);
    expect(r.config?.region_id).toBe("local");
  });

  it("says so when region_id is left empty or as the template's placeholder, and migrates locally", () => {
    for (const region_id of ["", "region"]) {
      const r = validateUserConfig({ ...base, region_id });
      expect(r.config?.region_id).toBe("local");
      expect(r.warnings).toEqual([expect.stringContaining('this host\'s image store (region_id "local")')]);
    }
    expect(validateUserConfig({ ...base, region_id: "local" }).warnings).toEqual([]);
  });

  describe("image_name", () => {
    it.each([
      ["empty", ""],
      ["one character", "a"],
      ["129 characters", `a${"b".repeat(128)}`],
      ["starting with a digit", "1image"],
      ["starting with an underscore", "_image"],
      ["containing a space", "my image"],
      ["containing a slash", "my/image"],
      ["non-ASCII letter", "imagé"],
      ["emoji", "image😀"],
    ])("refuses %s", (_why, name) => {
      const p = only({ image_name: name });
      expect(p.code).toBe("Config.InvalidImageName");
      expect(p.field).toBe("image_name");
      expect(p.message).toContain("2 to 128 characters");
    });
    it("refuses a number with the type named", () => {
      const p = only({ image_name: 42 });
      expect(p.code).toBe("Config.InvalidImageName");
      expect(p.message).toContain("got 42");
    });
    it.each([["ab"], [`a${"b".repeat(127)}`], ["迁移镜像_01"], ["镜像"], ["img.v1:2024-01_x"]])("accepts %s", (name) => {
      expect(validateUserConfig({ image_name: name }).problems).toEqual([]);
    });
  });

  describe("system_disk_size", () => {
    it.each([[19], [501], [0], [-40], [40.5], [1e12], ["40"], [true], [""]])("refuses %j", (v) => {
      const p = only({ system_disk_size: v });
      expect(p.code).toBe("Config.InvalidSystemDiskSize");
      expect(p.message).toContain("[20, 500]");
    });
    it.each([[20], [500]])("accepts the bound %j", (v) => {
      expect(validateUserConfig({ ...base, system_disk_size: v }).config?.system_disk_size).toBe(v);
    });
    it("says a string is not an integer", () => {
      expect(only({ system_disk_size: "40" }).message).toBe('system_disk_size must be an integer number of GiB in [20, 500]; got the string "40"');
    });
  });

  describe("platform and architecture", () => {
    it("is case-sensitive", () => {
      expect(only({ platform: "centos" }).code).toBe("Config.InvalidPlatform");
      expect(only({ platform: "Others linux" }).code).toBe("Config.InvalidPlatform");
    });
    it("accepts every seed value and empty", () => {
      for (const p of ["", "CentOS", "Others Linux", "Windows Server 2016", "OpenSUSE", "RedHat"]) expect(codes({ ...base, platform: p })).toEqual([]);
    });
    it("refuses unknown architectures and accepts the seed spelling Architecture", () => {
      expect(only({ architecture: "arm64" }).code).toBe("Config.InvalidArchitecture");
      expect(validateUserConfig({ ...base, Architecture: "i386" }).config?.architecture).toBe("i386");
    });
  });

  describe("bandwidth_limit", () => {
    it("refuses negative, fractional and string values", () => {
      for (const v of [-1, 1.5, "100"]) expect(only({ bandwidth_limit: v }).code).toBe("Config.InvalidBandwidthLimit");
    });
    it("accepts 0 (unlimited) and large values", () => {
      expect(validateUserConfig({ ...base, bandwidth_limit: 0 }).problems).toEqual([]);
      expect(validateUserConfig({ ...base, bandwidth_limit: 10_000_000 }).config?.bandwidth_limit).toBe(10_000_000);
    });
  });

  describe("region_id and keys", () => {
    it("refuses a malformed region", () => {
      expect(only({ region_id: "Hangzhou" }).code).toBe("Config.InvalidRegionId");
    });
    it("requires keys for a cloud region", () => {
      expect(only({ region_id: "cn-hangzhou" }).code).toBe("Config.MissingAccessKey");
      expect(codes({ ...base, region_id: "cn-hangzhou", access_id: "LTAIxxxx", secret_key: "s3cr3t" })).toEqual([]);
    });
    it("refuses non-string keys", () => {
      expect(only({ access_id: 123 }).code).toBe("Config.InvalidAccessId");
      expect(only({ secret_key: ["x"] }).code).toBe("Config.InvalidSecretKey");
    });
  });

  describe("data_disks", () => {
    const disk = (i: number, path: string, size = 100) => ({ data_disk_index: i, data_disk_size: size, src_path: path });
    it("refuses more than 16", () => {
      const disks = Array.from({ length: 17 }, (_, i) => disk((i % 16) + 1, `/data${i}`));
      expect(codes({ ...base, data_disks: disks })).toContain("Config.TooManyDataDisks");
    });
    it("accepts 16", () => {
      const disks = Array.from({ length: 16 }, (_, i) => disk(i + 1, `/data${i}`));
      expect(codes({ ...base, data_disks: disks })).toEqual([]);
    });
    it("refuses an index out of [1, 16] or not an integer", () => {
      for (const i of [0, 17, 1.5, "1"]) expect(only({ data_disks: [{ data_disk_index: i, data_disk_size: 100, src_path: "/data" }] }).code).toBe("Config.InvalidDataDiskIndex");
    });
    it("refuses duplicate indexes", () => {
      const p = only({ data_disks: [disk(2, "/a"), disk(2, "/b")] });
      expect(p.code).toBe("Config.DuplicateDataDiskIndex");
      expect(p.message).toContain("data_disk_index 2");
    });
    it("numbers disks without an index by position", () => {
      const r = validateUserConfig({ ...base, data_disks: [{ src_path: "/a" }, { src_path: "/b", data_disk_size: 20 }] });
      expect(r.config?.data_disks.map((d) => d.data_disk_index)).toEqual([1, 2]);
      expect(r.config?.data_disks[0]?.data_disk_size).toBeUndefined();
    });
    it("refuses sizes outside [20, 32768]", () => {
      for (const s of [19, 32769, 0, "100"]) {
        const p = only({ data_disks: [disk(1, "/data", s as number)] });
        expect(p.code).toBe("Config.InvalidDataDiskSize");
        expect(p.message).toContain("[20, 32768]");
      }
    });
    it.each([["/"], ["/root"], ["/etc"], ["/var/"], ["/usr"], ["/boot"], ["/lib64"], ["/proc"], ["/sys/fs"], ["/run/user"], ["mnt/disk2"], [""], ["/mnt/../etc"], [42]])(
      "refuses src_path %j",
      (path) => {
        const p = only({ data_disks: [{ data_disk_index: 1, data_disk_size: 100, src_path: path }] });
        expect(p.code).toBe("Config.InvalidSrcPath");
        expect(p.field).toBe("data_disks[0].src_path");
      },
    );
    it("requires src_path", () => {
      expect(only({ data_disks: [{ data_disk_index: 1, data_disk_size: 100 }] }).code).toBe("Config.InvalidSrcPath");
    });
    it("allows a data disk below /var that is not /var itself", () => {
      expect(codes({ ...base, data_disks: [disk(1, "/var/lib/mysql")] })).toEqual([]);
    });
    it("refuses nested and repeated paths", () => {
      expect(only({ data_disks: [disk(1, "/data"), disk(2, "/data/sub")] }).message).toContain("lies inside");
      expect(only({ data_disks: [disk(1, "/data"), disk(2, "//data/")] }).message).toContain("same directory");
    });
    it("refuses a non-array and non-object items", () => {
      expect(only({ data_disks: "/data" }).code).toBe("Config.InvalidDataDisks");
      expect(only({ data_disks: ["/data"] }).code).toBe("Config.InvalidDataDisks");
    });
  });

  describe("Hoist extras", () => {
    it("checks each range and enum", () => {
      expect(only({ compression_level: 11 }).code).toBe("Config.InvalidCompressionLevel");
      expect(only({ parallel_streams: 0 }).code).toBe("Config.InvalidParallelStreams");
      expect(only({ parallel_streams: 17 }).code).toBe("Config.InvalidParallelStreams");
      expect(only({ checksum: "yes" }).code).toBe("Config.InvalidChecksum");
      expect(only({ boot_mode: "UEFI" }).code).toBe("Config.InvalidBootMode");
      expect(only({ filesystem: "btrfs" }).code).toBe("Config.InvalidFilesystem");
      expect(only({ lvm: "yes" }).code).toBe("Config.InvalidLvm");
      expect(only({ separate_boot: 1 }).code).toBe("Config.InvalidSeparateBoot");
    });

    it("takes the LVM re-layout and a separate /boot as booleans", () => {
      const r = validateUserConfig({ ...base, lvm: true, separate_boot: true });
      expect(r.problems).toEqual([]);
      expect(r.warnings).toEqual([]);
      expect(r.config).toMatchObject({ lvm: true, separate_boot: true });
    });
  });

  it("reports every problem at once", () => {
    const r = validateUserConfig({
      image_name: "1bad",
      system_disk_size: 10,
      platform: "centos",
      bandwidth_limit: -5,
      data_disks: [
        { data_disk_index: 1, data_disk_size: 10, src_path: "/etc" },
        { data_disk_index: 1, data_disk_size: 100, src_path: "/data" },
        { data_disk_index: 2, data_disk_size: 100, src_path: "/data" },
      ],
    });
    expect(r.config).toBeUndefined();
    expect(r.problems.map((p) => p.code).sort()).toEqual(
      [
        "Config.InvalidImageName",
        "Config.InvalidSystemDiskSize",
        "Config.InvalidPlatform",
        "Config.InvalidBandwidthLimit",
        "Config.InvalidDataDiskSize",
        "Config.InvalidSrcPath",
        "Config.InvalidSrcPath",
      ].sort(),
    );
    for (const p of r.problems) expect(p.message).toContain(p.field.split(".").pop()!.replace(/\[\d+\]$/, ""));
  });

  it("warns about unknown fields instead of failing", () => {
    const r = validateUserConfig({ ...base, colour: "blue", data_disks: [{ src_path: "/a", extra: 1 }] });
    expect(r.problems).toEqual([]);
    expect(r.warnings).toEqual(["colour is not a known user_config.json field and is ignored", "data_disks[0].extra is not a known field and is ignored"]);
  });

  it("refuses a JSON value that is not an object", () => {
    expect(codes([1, 2])).toEqual(["Config.InvalidJson"]);
  });
});

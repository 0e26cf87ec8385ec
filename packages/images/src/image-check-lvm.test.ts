import { describe, expect, it } from "vitest";
import { isLvmPv, lvDeviceKey, mapperPath } from "./image-check-lvm";

describe("isLvmPv", () => {
  it("knows a PV by its LVM2 label or by its MBR or GPT partition type", () => {
    expect(isLvmPv("83", "LVM2_member")).toBe(true);
    expect(isLvmPv("8e", "")).toBe(true);
    expect(isLvmPv("E6D6D379-F507-44C2-A23C-238F2A3DF928", "")).toBe(true);
    expect(isLvmPv("e6d6d379-f507-44c2-a23c-238f2a3df928", "")).toBe(true);
  });

  it("does not take a plain Linux partition or an ESP for a PV", () => {
    expect(isLvmPv("83", "ext4")).toBe(false);
    expect(isLvmPv("C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "vfat")).toBe(false);
    expect(isLvmPv(undefined, "")).toBe(false);
  });
});

describe("LV device names", () => {
  it("reads /dev/mapper and /dev/VG/LV spellings as the same LV", () => {
    expect(lvDeviceKey("/dev/mapper/vg0-lv1")).toBe("vg0/lv1");
    expect(lvDeviceKey("/dev/vg0/lv1")).toBe("vg0/lv1");
  });

  it("undoes device-mapper's doubled hyphens inside VG and LV names", () => {
    expect(mapperPath("data-vg", "lv-home")).toBe("/dev/mapper/data--vg-lv--home");
    expect(lvDeviceKey("/dev/mapper/data--vg-lv--home")).toBe("data-vg/lv-home");
    expect(lvDeviceKey(mapperPath("a--b", "c"))).toBe("a--b/c");
  });

  it("is not fooled by device names that are not LVs", () => {
    expect(lvDeviceKey("/dev/sda1")).toBeNull();
    expect(lvDeviceKey("/dev/disk/by-uuid/0f2e")).toBeNull();
    expect(lvDeviceKey("/dev/mapper/control")).toBeNull();
    expect(lvDeviceKey("UUID=0f2e")).toBeNull();
  });
});

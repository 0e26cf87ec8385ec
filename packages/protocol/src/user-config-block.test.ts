import { describe, expect, it } from "vitest";
import { validateUserConfig } from "./user-config";

const base = { access_id: "", secret_key: "", region_id: "local", image_name: "db01", system_disk_size: 40, data_disks: [{ data_disk_index: 1, data_disk_size: 100, src_path: "/data" }] };

describe("user_config block_replication", () => {
  it("defaults to no block partitions and accepts / and data disk paths", () => {
    expect(validateUserConfig(base).config?.block_replication).toEqual([]);
    expect(validateUserConfig({ ...base, block_replication: ["/data", "/", "/data"] }).config?.block_replication).toEqual(["/data", "/"]);
  });

  it("refuses anything but a list of / and data disk src_paths", () => {
    for (const bad of ["/data", [1], ["/srv"], ["data"]]) {
      const r = validateUserConfig({ ...base, block_replication: bad });
      expect(r.config).toBeUndefined();
      expect(r.problems.map((p) => p.code)).toEqual(["Config.InvalidBlockReplication"]);
    }
  });
});

import type { PreparedDisk } from "@hoist/images";
import { describe, expect, it } from "vitest";
import { disksFilled } from "./data-server";

const disk = (key: string) => ({ key, mountPath: `/t/${key}` }) as PreparedDisk;
const disks = [disk("system"), disk("disk1"), disk("disk2")];

describe("disksFilled", () => {
  it("names the modules rsync says it could not write to", () => {
    const stderr = 'rsync: [receiver] write failed on "/data1/blob-4.bin" (in disk1): No space left on device (28)\nrsync error: error in file IO (code 11) at receiver.c(657) [receiver=3.5.0]';
    expect(disksFilled(stderr, disks).map((d) => d.key)).toEqual(["disk1"]);
  });

  it("takes every disk of the job when the line names no module", () => {
    expect(disksFilled("rsync: mkstemp failed: No space left on device (28)", disks).map((d) => d.key)).toEqual(["system", "disk1", "disk2"]);
  });

  it("takes none for other failures", () => {
    expect(disksFilled("rsync: connection unexpectedly closed (0 bytes received so far) [receiver]", disks)).toEqual([]);
  });
});

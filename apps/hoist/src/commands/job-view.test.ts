import { changedDuringCopyView } from "@hoist/protocol";
import { describe, expect, it } from "vitest";
import { changedDuringCopyLines } from "./job-view";

describe("jobs show: what changed on the source during the last copy", () => {
  it("says nothing before a copy has finished, and 'none' after a still one", () => {
    expect(changedDuringCopyLines({ ChangedDuringCopy: null })).toBe("");
    const still = changedDuringCopyView(2, [{ disk: "system", appeared: 0, vanished: 0, changed: 0, paths: [] }]);
    expect(changedDuringCopyLines({ ChangedDuringCopy: still })).toBe("Source changes: none during the copy of run 2\n");
  });

  it("sums the disks and names the first paths, with sizes of changed files", () => {
    const c = changedDuringCopyView(1, [
      {
        disk: "system",
        appeared: 6,
        vanished: 1,
        changed: 1,
        paths: [
          { change: "appeared", path: "/srv/new", dir: true },
          { change: "vanished", path: "/etc/old.conf" },
          { change: "changed", path: "/var/log/syslog", bytesBefore: 1024, bytesAfter: 2048 },
        ],
      },
      { disk: "disk1", appeared: 0, vanished: 0, changed: 1, paths: [{ change: "changed", path: "/data/x", bytesBefore: 5, bytesAfter: 5 }] },
    ]);
    expect(changedDuringCopyLines({ ChangedDuringCopy: c }, 3)).toBe(
      [
        "Source changes: during the copy of run 1: 6 appeared, 1 vanished, 2 changed (the next sync brings them over)",
        "  appeared  /srv/new/",
        "  vanished  /etc/old.conf",
        "  changed   /var/log/syslog (1.00 KiB → 2.00 KiB)",
        "  … 1 more named in --json",
        "",
      ].join("\n"),
    );
  });
});

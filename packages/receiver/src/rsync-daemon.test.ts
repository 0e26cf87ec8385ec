import { describe, expect, it } from "vitest";
import { codeOf } from "../../../test/helpers/errors";
import { buildRsyncdConfig, checkRsyncCommand } from "./rsync-daemon";

describe("rsync daemon command and config", () => {
  it("accepts only rsync's daemon-over-rsh command", () => {
    expect(codeOf(() => checkRsyncCommand(["rsync", "--server", "--daemon", "."]))).toBe("no error");
    expect(codeOf(() => checkRsyncCommand(["rsync", "--server", "-logDtpre.iLsfxCIvu", ".", "/etc"]))).toBe("Receiver.BadRsyncArgs");
    expect(codeOf(() => checkRsyncCommand(["rsync", "--server", "--daemon", "--config=/tmp/x", "."]))).toBe("Receiver.BadRsyncArgs");
    expect(codeOf(() => checkRsyncCommand(["sh", "-c", "id"]))).toBe("Receiver.BadRsyncArgs");
  });

  it("lists one chrooted module per disk of the job", () => {
    const conf = buildRsyncdConfig({
      disks: [
        { key: "system", rawPath: "/r/s.raw", sizeBytes: 1, mountPath: "/mnt/j-1/system" },
        { key: "disk1", rawPath: "/r/d1.raw", sizeBytes: 1, mountPath: "/mnt/j-1/disk1" },
      ],
    });
    expect(conf).toContain("use chroot = yes");
    expect(conf).toContain("write only = yes");
    expect(conf).toMatch(/\[system\]\npath = \/mnt\/j-1\/system\n/);
    expect(conf).toMatch(/\[disk1\]\npath = \/mnt\/j-1\/disk1\n/);
    expect(conf.match(/^\[/gm)).toHaveLength(2);
  });

  it("refuses paths that would inject settings", () => {
    expect(codeOf(() => buildRsyncdConfig({ disks: [{ key: "system", rawPath: "", sizeBytes: 1, mountPath: "/x\n[etc]\npath = /etc" }] }))).toBe("Receiver.BadTargetPath");
  });
});

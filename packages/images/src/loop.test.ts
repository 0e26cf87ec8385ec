import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@hoist/runtime";
import { afterAll, describe, expect, it } from "vitest";
import { attachLoop, detachLoop } from "./loop";

const dir = mkdtempSync(join(tmpdir(), "hoist-loop-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("detachLoop", () => {
  it("returns only once the kernel let the device go, though something held it open when it was asked", async () => {
    const file = join(dir, "disk.raw");
    writeFileSync(file, Buffer.alloc(4 * 2 ** 20));
    const device = await attachLoop(file);
    // A probe of every block device (blkid, udev) has the device open at the moment it is detached.
    const holder = openSync(device, "r");
    const started = Date.now();
    setTimeout(() => closeSync(holder), 400);
    await detachLoop(device);
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    expect((await run("losetup", ["-j", file])).stdout.trim()).toBe("");
  });
});

// The shared conformance suite: what every provider must do, checked the same
// way for each (hono's runTest({ newRouter }) pattern). A test file calls
// providerConformance() with a factory; the suite starts a real intermediate
// instance, has its receiver lay out a small target disk, makes an image of
// it, and releases everything. Booting is left to the end-to-end migrations.
import { randomUUID } from "node:crypto";
import { HoistError, type SourceInventory, type TargetPlan } from "@hoist/protocol";
import { createControlClient } from "@hoist/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { debianInventory } from "../../../test/helpers/inventory";
import { receiverHealthy } from "./local/receiver-process";
import type { IntermediateInstance, Provider } from "./provider";

export interface ConformanceSetup {
  provider: Provider;
  region: string;
  /** Takes down whatever the provider's world needs (fake endpoints, folders). */
  cleanup(): Promise<void>;
}

const PLAN: TargetPlan = {
  bootMode: "bios",
  lvm: false,
  disks: [{ key: "system", sizeGiB: 1, table: "mbr", partitions: [{ key: "system-p1", role: "root", mountPoint: "/", fs: "ext4", sizeMiB: null, uuid: randomUUID() }], sourcePath: "/", usedBytes: 1024 * 1024 }],
};

const INVENTORY: SourceInventory = debianInventory({
  collectedAt: new Date(0).toISOString(),
  hostname: "conformance",
  bootloader: { kind: "grub2", version: null },
  systemDiskBytes: 1024 ** 3,
  usedBytes: 1024 * 1024,
});

export function providerConformance(name: string, setup: () => Promise<ConformanceSetup>): void {
  describe(`provider conformance: ${name}`, () => {
    let world: ConformanceSetup;
    let instance: IntermediateInstance;
    const image = `conformance-${Math.random().toString(36).slice(2, 8)}`;

    beforeAll(async () => {
      world = await setup();
    });
    afterAll(async () => {
      if (instance) await world.provider.releaseIntermediateInstance(instance.instanceId).catch(() => undefined);
      await world?.cleanup();
    });

    it("starts an intermediate instance whose receiver answers with the pinned certificate and accepts the admin token", async () => {
      instance = await world.provider.createIntermediateInstance({ region: world.region, placement: { region: world.region }, label: image, plan: PLAN, inventory: INVENTORY });
      expect(instance.provider).toBe(world.provider.name);
      expect(instance.fingerprint).toMatch(/^[0-9a-f]{64}$/);
      expect(await receiverHealthy(instance.host, instance.controlPort, instance.fingerprint)).toBe(true);
      expect(await receiverHealthy(instance.host, instance.controlPort, "0".repeat(64))).toBe(false);
    });

    it("finds the same intermediate instance again by its id, with or without the placement it was started in", async () => {
      const same = { instanceId: instance.instanceId, host: instance.host, controlPort: instance.controlPort, fingerprint: instance.fingerprint, adminToken: instance.adminToken };
      expect(await world.provider.findIntermediateInstance(instance.instanceId)).toMatchObject(same);
      expect(await world.provider.findIntermediateInstance(instance.instanceId, { region: world.region })).toMatchObject(same);
    });

    it("makes an image from the target disks the receiver laid out, lists it, and deletes it", async () => {
      const endpoint = { host: instance.host, port: instance.controlPort, fingerprint: instance.fingerprint };
      const admin = createControlClient({ ...endpoint, token: instance.adminToken, timeoutMs: 300_000 });
      const { jobId, token } = await admin.json<{ jobId: string; token: string }>("POST", "/v1/jobs", { plan: PLAN, label: image });
      const job = createControlClient({ ...endpoint, token, timeoutMs: 300_000 });
      await job.json("POST", `/v1/jobs/${jobId}/prepare`, {});
      const detached = await job.json<{ disks: { key: string; rawPath: string; sizeBytes: number }[] }>("POST", `/v1/jobs/${jobId}/detach`, {});
      expect(await world.provider.imageExists(image, world.region)).toBe(false);
      const info = await world.provider.createImage({ name: image, instanceId: instance.instanceId, region: world.region, disks: detached.disks, plan: PLAN, inventory: INVENTORY, conversion: null });
      expect(info.name).toBe(image);
      expect(info.disks.map((d) => d.key)).toEqual(["system"]);
      expect(info.disks[0]!.virtualSizeBytes).toBeGreaterThanOrEqual(detached.disks[0]!.sizeBytes);
      expect(info.verification.status).toBe("unverified");
      expect(await world.provider.imageExists(image, world.region)).toBe(true);
      expect((await world.provider.listImages(world.region)).map((i) => i.name)).toContain(image);
      await world.provider.deleteImage(image, world.region);
      expect(await world.provider.imageExists(image, world.region)).toBe(false);
      expect((await world.provider.listImages(world.region)).map((i) => i.name)).not.toContain(image);
      await admin.call("DELETE", `/v1/jobs/${jobId}`);
    });

    it("releases the intermediate instance: it is gone, and releasing again is harmless", async () => {
      await world.provider.releaseIntermediateInstance(instance.instanceId, { region: world.region });
      expect(await receiverHealthy(instance.host, instance.controlPort, instance.fingerprint)).toBe(false);
      expect(await world.provider.findIntermediateInstance(instance.instanceId)).toBeNull();
      expect(await world.provider.findIntermediateInstance(instance.instanceId, { region: world.region })).toBeNull();
      await world.provider.releaseIntermediateInstance(instance.instanceId);
    });

    it("refuses an id that is not one of its intermediate instances with a HoistError, or finds nothing", async () => {
      const outcome = await world.provider.findIntermediateInstance("i-unknown0000").catch((e: unknown) => e);
      expect(outcome === null || outcome instanceof HoistError).toBe(true);
    });
  });
}

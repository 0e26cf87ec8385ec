// A whole migration through the Alibaba Cloud provider, as a user runs it with
// an Alibaba region_id: `hoist migrate` against the contract fake of ECS, VPC
// and OSS (nothing leaves this host). The intermediate instance is released
// behind Hoist's back after a first run is cut short (seed 002's accident); the next run
// replaces it and copies again, then the disks are written onto cloud disks,
// snapshotted, made a custom image, and that image boots under QEMU (the
// fake's instance) to multi-user with its data disk mounted. The same source
// then goes onto an existing instance (seed 003): its disks get the copy, the
// migration test boots it, and --test-only rolls it back to its snapshots and
// puts the destination's own user data back (the receiver's key and token leave it).
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AlibabaContractFake } from "../helpers/alibaba-contract-fake";
import { FakeAlibabaAccount, RECEIVER_BUNDLE_URL } from "../helpers/alibaba-fake-account";
import { writableDebianSource } from "../helpers/debian-fixture";
import { writeUserConfig } from "../helpers/local-migration";
import { debianUserConfig } from "../helpers/user-config";
import { createAlibabaProvider, parseUserData } from "@hoist/providers";

const ROOT = resolve(import.meta.dirname, "../..");
const HOIST = join(ROOT, "apps/hoist/bin/hoist");
const base = mkdtempSync("/var/tmp/hoist-alibaba-migrate-");
const source = join(base, "source");
const workdir = join(base, "work");
const IMAGE = "web01-alibaba";
const account = new FakeAlibabaAccount(base, "LTAI5tHoistMigrateFake", "migrate-secret");
let fake: AlibabaContractFake;

/** Runs hoist without blocking this process: the fake answers from the same event loop. */
function hoist(args: string[], timeoutMs = 20 * 60_000, killWhen?: RegExp): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(HOIST, args, { env: { ...process.env, HOIST_ALIBABA_POLL_MS: "200" }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => {
      stdout += b.toString();
      if (killWhen?.test(stdout)) child.kill("SIGKILL");
    });
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (status) => {
      clearTimeout(timer);
      done({ status, stdout, stderr });
    });
  });
}

const flags = (dir = workdir) => [
  "migrate",
  "--noenterkey",
  "--workdir",
  dir,
  "--source-root",
  source,
  "--datadisks",
  "1|20|/mnt/disk1",
  ...account.hoistFlags(),
];

beforeAll(async () => {
  process.env["HOIST_BIN"] = HOIST;
  await writableDebianSource(base);
  mkdirSync(join(source, "mnt", "disk1"), { recursive: true });
  writeFileSync(join(source, "mnt", "disk1", "hello.txt"), "data disk one\n");
  for (const [dir, image] of [
    [workdir, IMAGE],
    [join(base, "work-instance"), "web01-onto-instance"],
    [join(base, "work-big-user-data"), "web01-big-user-data"],
  ] as const) {
    writeUserConfig(dir, debianUserConfig(image, { access_id: account.accessKeyId, secret_key: account.accessKeySecret, region_id: "cn-hangzhou" }));
  }
  fake = await account.start({ outOfStock: ["ecs.g7.large"] });
}, 20 * 60_000);

afterAll(async () => {
  await account.close();
});

describe("hoist migrate into Alibaba Cloud (contract fake)", () => {
  let first = "";

  it("starts the intermediate instance in the user's account (the run is then cut short)", async () => {
    const r = await hoist(flags(), 10 * 60_000, /Intermediate instance \S+ is running/);
    expect(r.status, `${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`).toBeNull();
    const running = [...fake.instances.values()];
    expect(running.map((i) => i.name)).toEqual(["No_Delete_SMC_Transition_Instance"]);
    first = running[0]!.id;
    expect(r.stdout).toContain(`Intermediate instance ${first} is running`);
  });

  it("replaces an intermediate instance released by mistake, then ends in a custom image that boots", async () => {
    await fake.releaseByHand(first);
    const r = await hoist(flags());
    expect(r.status, `${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`).toBe(0);
    expect(r.stdout).toContain(`Intermediate instance ${first} no longer exists`);
    expect(r.stdout).toMatch(/booted to multi-user/);
    expect(r.stdout.trim().split("\n")).toContain("Goto Hoist Finished!");

    // The image: one system and one data disk from snapshots, tagged as booted.
    const image = [...fake.images.values()].find((i) => i.name === IMAGE)!;
    expect(image.mappings.map((m) => m.type)).toEqual(["system", "data"]);
    expect(image.bootMode).toBe("BIOS");
    expect(image.tags).toContainEqual({ Key: "hoist:verification", Value: "booted" });
    // "booted" means multi-user with every mount point of the image mounted, the data disk's included.
    expect(image.tags).toContainEqual({ Key: "hoist:mounts", Value: "/,/mnt/disk1" });
    // Everything temporary is gone: instances (the intermediate one and the boot check's), target disks, the network.
    expect(fake.instances.size).toBe(0);
    expect([...fake.disks.values()]).toEqual([]);
    expect(fake.vpcs.size + fake.vswitches.size + fake.securityGroups.size).toBe(0);
    // The API calls a user can audit: signed, in the documented order.
    expect(fake.signaturesVerified).toBe(fake.calls.length);
    const actions = fake.actions("ecs");
    for (const a of ["RunInstances", "CreateDisk", "AttachDisk", "CreateSnapshot", "CreateImage", "GetInstanceConsoleOutput", "TagResources", "DeleteInstance"]) expect(actions).toContain(a);
    expect(actions.indexOf("CreateSnapshot")).toBeLessThan(actions.indexOf("CreateImage"));
    // The secret never reaches the working folder (client_data, logs).
    const grep = spawnSync("grep", ["-rl", account.accessKeySecret, workdir, "--exclude=user_config.json"], { encoding: "utf8" });
    expect(grep.stdout).toBe("");
    expect(grep.status).toBe(1);
  });

  it("refuses an existing instance whose own user data leaves no room for the receiver's, before changing anything", async () => {
    const dest = fake.seedInstance({ systemGiB: 20, dataGiB: [20] });
    const own = Buffer.from(`#!/bin/sh\n# ${"x".repeat(30 * 1024)}\n`).toString("base64");
    fake.instances.get(dest)!.userData = own;
    const r = await hoist([...flags(join(base, "work-big-user-data")), "--target", "instance", "--destination-instance", dest], 10 * 60_000);
    expect(r.status, `${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toContain("Destination.UserDataTooLarge");
    const changes = fake.calls.filter((c) => c.product === "ecs" && c.params["InstanceId"] === dest && ["StopInstance", "ModifyInstanceAttribute", "AttachDisk", "CreateSnapshot"].includes(c.action));
    expect(changes).toEqual([]);
    expect([...fake.snapshots.values()].some((s) => s.name.startsWith("hoist-before-"))).toBe(false);
    expect(fake.instances.get(dest)?.status).toBe("Running");
    expect(fake.instances.get(dest)?.userData).toBe(own);
  });

  it("migrates onto an existing instance: its disks get the copy, the migration test boots it, and --test-only rolls it back", async () => {
    const dest = fake.seedInstance({ systemGiB: 20, dataGiB: [20] });
    const disksOf = () => [...fake.disks.values()].filter((d) => d.instanceId === dest);
    const at1MiB = (file: string, text?: string): string => {
      const fd = openSync(file, text === undefined ? "r" : "r+");
      try {
        if (text !== undefined) writeSync(fd, text, 1024 * 1024);
        const buf = Buffer.alloc(32);
        readSync(fd, buf, 0, 32, 1024 * 1024);
        return buf.toString("utf8").replace(/\0+$/, "");
      } finally {
        closeSync(fd);
      }
    };
    const sys = disksOf().find((d) => d.type === "system")!;
    const data = disksOf().find((d) => d.type === "data")!;
    at1MiB(sys.file, "the destination's own system");
    at1MiB(data.file, "the destination's own data");
    // The user's own user data on the destination, which Hoist replaces for the run and must put back.
    const ownUserData = Buffer.from("#cloud-config\nruncmd:\n  - echo the destination's own user data > /etc/motd\n").toString("base64");
    fake.instances.get(dest)!.userData = ownUserData;
    const receiverSecrets: string[] = [];

    const run = hoist([...flags(join(base, "work-instance")), "--target", "instance", "--destination-instance", dest, "--test-only", "--compression", "0"]);
    // While the receiver runs on the destination, its user data is Hoist's script: keep its admin token and key to look for them afterwards.
    let ended = false;
    void run.then(() => (ended = true));
    for (let i = 0; i < 3000 && receiverSecrets.length === 0 && !ended; i++) {
      const script = Buffer.from(fake.instances.get(dest)?.userData ?? "", "base64").toString("utf8");
      if (script.includes("hoist-receiver.service")) {
        const boot = parseUserData(script);
        receiverSecrets.push(boot.adminToken, boot.keyPem.trim());
      } else await new Promise((res) => setTimeout(res, 200));
    }
    const r = await run;
    expect(r.status, `${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`).toBe(0);
    expect(r.stdout).toMatch(/booted to multi-user/);

    // Every disk of the destination was snapshotted before anything on it changed.
    const calls = fake.calls.filter((c) => c.product === "ecs" && (c.params["InstanceId"] === dest || c.params["DiskId"] === sys.id || c.params["DiskId"] === data.id));
    const firstChange = calls.findIndex((c) => ["StopInstance", "ModifyInstanceAttribute", "AttachDisk", "ReplaceSystemDisk", "ResetDisk"].includes(c.action));
    expect(calls.slice(0, firstChange).filter((c) => c.action === "CreateSnapshot").map((c) => c.params["DiskId"]).sort()).toEqual([sys.id, data.id].sort());
    // The copy went onto the destination itself: its system disk was replaced by the migrated one, which booted there
    // (the migration test) to multi-user with the data disk written in place mounted.
    const actions = calls.map((c) => c.action);
    expect(actions).toContain("ReplaceSystemDisk");
    const boot = readFileSync(join(account.cloud, "instances", dest, "console.log"), "utf8");
    expect(boot).toMatch(/HOIST-VERIFY mounts=.*,\/,.*\/mnt\/disk1/);
    const image = [...fake.images.values()].find((i) => i.name === "web01-onto-instance");
    expect(image?.tags).toContainEqual({ Key: "hoist:verification", Value: "booted" });
    // --test-only: the destination's disks are back as they were, and nothing temporary is left.
    await fake.settled();
    expect(actions.lastIndexOf("ResetDisk")).toBeGreaterThan(actions.indexOf("GetInstanceConsoleOutput"));
    const after = disksOf();
    expect(after.map((d) => d.type).sort()).toEqual(["data", "system"]);
    expect(at1MiB(after.find((d) => d.type === "system")!.file)).toBe("the destination's own system");
    expect(at1MiB(after.find((d) => d.type === "data")!.file)).toBe("the destination's own data");
    expect([...fake.disks.values()].some((d) => d.name === "SMC_Temp_Disk")).toBe(false);
    expect([...fake.snapshots.values()].some((s) => s.name.startsWith("hoist-before-"))).toBe(false);
    expect([...fake.images.values()].some((i) => i.name.startsWith("hoist-rollback-"))).toBe(false);
    expect(fake.instances.has(dest)).toBe(true);
    // The destination's user data is exactly its own again: neither the receiver's admin token nor any private key is left in it.
    expect(receiverSecrets).toHaveLength(2);
    // Read as a user would: DescribeUserData through the SDK, signed with the user's key.
    const api = createAlibabaProvider({ credentials: { accessKeyId: account.accessKeyId, accessKeySecret: account.accessKeySecret, source: "test" }, regionId: "cn-hangzhou", endpointOverride: fake.endpoint, receiverBundleUrl: RECEIVER_BUNDLE_URL }).api;
    const desc = await api.rpc("ecs", "DescribeUserData", { InstanceId: dest });
    expect(desc["UserData"]).toBe(ownUserData);
    const left = Buffer.from(String(desc["UserData"]), "base64").toString("utf8");
    for (const secret of receiverSecrets) expect(left).not.toContain(secret);
    expect(left).not.toMatch(/PRIVATE KEY/);
    expect(actions.lastIndexOf("ModifyInstanceAttribute")).toBeGreaterThan(actions.indexOf("ModifyInstanceAttribute"));
  });
});

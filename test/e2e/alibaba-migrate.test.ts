// A whole migration through the Alibaba Cloud provider, as a user runs it with
// an Alibaba region_id: `hoist migrate` against the contract fake of ECS, VPC
// and OSS (nothing leaves this host). The intermediate instance is released
// behind Hoist's back after a first run is cut short (seed 002's accident); the next run
// replaces it and copies again, then the disks are written onto cloud disks,
// snapshotted, made a custom image, and that image boots under QEMU (the
// fake's instance) to multi-user with its data disk mounted.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AlibabaContractFake, startAlibabaContractFake } from "../helpers/alibaba-contract-fake";
import { releaseEverythingUnder } from "../helpers/cleanup";
import { debianFixture } from "../helpers/debian-fixture";

const ROOT = resolve(import.meta.dirname, "../..");
const HOIST = join(ROOT, "apps/hoist/bin/hoist");
const base = mkdtempSync("/var/tmp/hoist-alibaba-migrate-");
const source = join(base, "source");
const workdir = join(base, "work");
const IMAGE = "web01-alibaba";
const AK = "LTAI5tHoistMigrateFake";
const SECRET = `migrate-secret-${Math.random().toString(36).slice(2)}`;
const control = 20000 + Math.floor(Math.random() * 20000);
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

const flags = () => [
  "migrate",
  "--noenterkey",
  "--workdir",
  workdir,
  "--source-root",
  source,
  "--datadisks",
  "1|20|/mnt/disk1",
  "--endpoint-override",
  fake.endpoint,
  "--receiver-bundle-url",
  "https://bundles.example.invalid/hoist.mjs",
  "--receiver-ports",
  `${control},${control + 1}`,
];

beforeAll(async () => {
  process.env["HOIST_BIN"] = HOIST;
  const fixture = await debianFixture();
  for (const d of ["upper", "ovl", "source"]) mkdirSync(join(base, d), { recursive: true });
  execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${fixture},upperdir=${join(base, "upper")},workdir=${join(base, "ovl")}`, source]);
  mkdirSync(join(source, "mnt", "disk1"), { recursive: true });
  writeFileSync(join(source, "mnt", "disk1", "hello.txt"), "data disk one\n");
  mkdirSync(workdir, { recursive: true });
  writeFileSync(
    join(workdir, "user_config.json"),
    JSON.stringify({ access_id: AK, secret_key: SECRET, region_id: "cn-hangzhou", image_name: IMAGE, system_disk_size: 20, platform: "Debian", architecture: "x86_64", bandwidth_limit: 0, data_disks: [] }),
  );
  fake = await startAlibabaContractFake({ dir: join(base, "cloud"), accessKeyId: AK, accessKeySecret: SECRET, outOfStock: ["ecs.g7.large"] });
}, 20 * 60_000);

afterAll(async () => {
  await fake?.close();
  releaseEverythingUnder(base, join(base, "cloud"));
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
    const grep = spawnSync("grep", ["-rl", SECRET, workdir, "--exclude=user_config.json"], { encoding: "utf8" });
    expect(grep.stdout).toBe("");
    expect(grep.status).toBe(1);
  });
});

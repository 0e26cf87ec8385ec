// The block copy's LVM-snapshot path on a real device-mapper. The host kernel
// has none, so the agent side runs inside a Debian 12 guest under QEMU: at
// boot the guest makes a volume group on a blank disk, an ext4 logical
// volume with room left in the group, fills it with a test tree, keeps it
// mounted read-write and copies it by block to a `hoist receiver` on the host
// (reached as 10.0.2.2 through QEMU's user networking). The copy must come
// from a snapshot that is gone afterwards, hold exactly the tree, and be
// fsck clean on the host.
import { execFileSync, spawnSync } from "node:child_process";
import { createCipheriv, createHash, randomUUID } from "node:crypto";
import { chmodSync, chownSync, copyFileSync, linkSync, lutimesSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BlockTransferResult } from "@hoist/agent";
import { readJobState } from "@hoist/images";
import type { CreateJobResponse, TargetPlan } from "@hoist/protocol";
import { createControlClient } from "@hoist/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleRunner } from "../helpers/build";
import { releaseEverythingUnder } from "../helpers/cleanup";
import { debianFixture } from "../helpers/debian-fixture";
import { bootGuest, debianGuestRoot, type Guest, type GuestRun, kernelOf } from "../helpers/qemu-guest";
import { type ReceiverProcess, startReceiverProcess } from "../helpers/receiver";
import { compareTrees } from "../helpers/tree";

const MiB = 2 ** 20;
const LV_BYTES = 256 * MiB;
const base = mkdtempSync("/var/tmp/hoist-block-lvm-");
const stateDir = join(base, "receiver-state");
const hostTree = join(base, "tree");
const PAST = new Date("2003-03-03T03:03:03Z");

let receiver: ReceiverProcess | undefined;
let guest: Guest | undefined;
let job: (CreateJobResponse & { target: string; jobDir: string }) | undefined;

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

/** Bytes that look random but are the same on every run (AES-CTR of zeros under a key from the seed). */
function seeded(bytes: number, seed: string): Buffer {
  const key = createHash("sha256").update(seed).digest();
  return createCipheriv("aes-256-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(bytes));
}

/** A small tree with what a data volume holds: nested folders, big and small files, owners, modes, links, a sparse file. Returns its data bytes. */
function buildTree(dir: string): number {
  let bytes = 0;
  const file = (rel: string, data: Buffer, mode = 0o644, owner = 0) => {
    mkdirSync(join(dir, rel, ".."), { recursive: true });
    writeFileSync(join(dir, rel), data);
    chmodSync(join(dir, rel), mode);
    chownSync(join(dir, rel), owner, owner);
    bytes += data.length;
  };
  for (let i = 0; i < 12; i++) file(`data/blobs/${i % 4}/blob-${i}.bin`, seeded(3 * MiB + i * 40_961, `blob-${i}`));
  for (let i = 0; i < 40; i++) file(`etc/app/conf.d/${String(i).padStart(2, "0")}.conf`, Buffer.from(`setting_${i} = ${createHash("sha1").update(String(i)).digest("hex")}\n`));
  file("etc/app/secret.key", seeded(64, "key"), 0o600, 1001);
  file("var/lib/app/state.db", seeded(700_001, "db"), 0o640, 1002);
  file("usr/local/bin/tool", Buffer.from("#!/bin/sh\necho tool\n"), 0o4755);
  file("var/empty-file", Buffer.alloc(0));
  linkSync(join(dir, "data/blobs/0/blob-0.bin"), join(dir, "data/blob-0.hardlink"));
  symlinkSync("../etc/app/conf.d/00.conf", join(dir, "var/conf-link"));
  // 16 MiB with data only at both ends.
  const sparse = join(dir, "var/lib/app/sparse.img");
  writeFileSync(sparse, "start");
  execFileSync("sh", ["-c", 'printf end | dd of="$1" bs=1 seek=$((16*1024*1024-3)) conv=notrunc status=none', "sh", sparse]);
  mkdirSync(join(dir, "srv/empty"), { recursive: true });
  chmodSync(join(dir, "srv/empty"), 0o1777);
  // Times last, deepest first, so making a child does not touch its folder's time afterwards.
  const all = sh("find", [dir, "-mindepth", "1", "-depth"]).split("\n").filter(Boolean);
  for (const p of all) lutimesSync(p, PAST, PAST);
  utimesSync(dir, PAST, PAST);
  return bytes;
}

function planFor(uuid: string): TargetPlan {
  return {
    bootMode: "bios",
    lvm: false,
    disks: [
      {
        key: "disk1",
        sizeGiB: 1,
        table: "mbr",
        partitions: [{ key: "disk1-p1", role: "data", mountPoint: "/srv", fs: "ext4", sizeMiB: null, uuid, replication: "block", sourceBytes: LV_BYTES }],
        sourcePath: "/srv",
        usedBytes: 0,
      },
    ],
  };
}

function controlClient(token: string) {
  if (!receiver) throw new Error("no receiver");
  return createControlClient({ host: "127.0.0.1", port: receiver.ready.controlPort, fingerprint: receiver.ready.fingerprint, token });
}

// What the guest runs once at boot: everything it prints goes to the serial console; it powers off at the end.
const GUEST_SCRIPT = `#!/bin/sh
exec >/dev/ttyS0 2>&1
set -u
fail() { echo "HOIST-LVM-FAIL $*"; sync; poweroff -f; }
disk=/dev/disk/by-id/virtio-hoistlvm
i=0; while [ ! -b "$disk" ] && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done
[ -b "$disk" ] || fail "no extra disk"
pvcreate -q "$disk" || fail pvcreate
vgcreate -q vgtest "$disk" || fail vgcreate
lvcreate -q -y -n lvdata -L ${LV_BYTES / MiB}m vgtest || fail lvcreate
mkfs.ext4 -q -U "$(cat /hoist-lvm/uuid)" /dev/vgtest/lvdata || fail mkfs
mkdir -p /mnt/lvdata && mount -o rw /dev/vgtest/lvdata /mnt/lvdata || fail mount
mkdir /mnt/lvdata/tree && tar -C /mnt/lvdata/tree --numeric-owner -xpf /hoist-lvm/tree.tar || fail tar
sync
echo "HOIST-LVM-VG $(vgs --noheadings --units b --nosuffix -o vg_size,vg_free vgtest | tr -s ' ')"
ip link set lo up; ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 || fail network
/hoist-lvm/node /hoist-lvm/runner.mjs /hoist-lvm/options.json || { echo "HOIST-LVM-AGENT-LOG"; cat /hoist-lvm/agent.log; }
grep -h "snapshot" /hoist-lvm/agent.log | sed 's/^/HOIST-LVM-LOG /'
echo "HOIST-LVM-MOUNT $(findmnt -n -o OPTIONS /mnt/lvdata)"
echo "HOIST-LVM-LVS $(lvs --noheadings -o lv_name,origin,lv_attr --separator , vgtest | tr -s ' \\n' ' ')"
echo HOIST-LVM-DONE
sync
poweroff -f
`;

const GUEST_UNIT = `[Unit]
Description=Block copy of an LVM volume to the host
After=systemd-udevd.service local-fs.target
Wants=systemd-udevd.service

[Service]
Type=oneshot
ExecStart=/hoist-lvm/run.sh

[Install]
WantedBy=multi-user.target
`;

/** What follows `tag` on the first console line that carries it. */
function line(text: string, tag: string): string | undefined {
  for (const l of text.split(/\r?\n/)) {
    const at = l.indexOf(`${tag} `);
    if (at >= 0) return l.slice(at + tag.length + 1).trim();
  }
  return undefined;
}

let run: GuestRun;
let treeBytes = 0;

beforeAll(async () => {
  const fixture = await debianFixture();
  mkdirSync(hostTree);
  treeBytes = buildTree(hostTree);
  const tarFile = join(base, "tree.tar");
  sh("tar", ["-C", hostTree, "--numeric-owner", "--sparse", "-cf", tarFile, "."]);

  const runner = join(base, "runner.mjs");
  await bundleRunner(
    `import { readFileSync } from "node:fs";
import { transferPartitionBlocks } from "@hoist/agent";
import { createLogger } from "@hoist/runtime";
const o = JSON.parse(readFileSync(process.argv[2], "utf8"));
try {
  const result = await transferPartitionBlocks({ ...o, logger: createLogger({ file: o.logFile }) });
  process.stdout.write("HOIST-LVM-RESULT " + JSON.stringify(result) + "\\n");
} catch (e) {
  process.stdout.write("HOIST-LVM-ERROR " + JSON.stringify({ code: e.code, message: e.message }) + "\\n");
  process.exitCode = 1;
}`,
    runner,
  );

  receiver = await startReceiverProcess(stateDir);
  const uuid = randomUUID();
  const admin = controlClient(readFileSync(join(stateDir, "admin.token"), "utf8").trim());
  const created = await admin.json<CreateJobResponse>("POST", "/v1/jobs", { plan: planFor(uuid), label: "block-lvm-snapshot" });
  const prepared = await controlClient(created.token).json<{ disks: { key: string; mountPath: string }[] }>("POST", `/v1/jobs/${created.jobId}/prepare`);
  job = { ...created, target: prepared.disks[0]?.mountPath ?? "", jobDir: join(stateDir, "jobs", created.jobId) };

  const options = {
    source: "/dev/vgtest/lvdata",
    receiver: { host: "10.0.2.2", dataPort: receiver.ready.dataPort, fingerprint: receiver.ready.fingerprint },
    jobId: job.jobId,
    token: job.token,
    partition: "disk1-p1",
    consistency: "auto",
    logFile: "/hoist-lvm/agent.log",
  };
  const { kernel, initrd } = kernelOf(fixture);
  const rootFile = join(base, "root.raw");
  await debianGuestRoot(rootFile, 3, join(base, "root-mnt"), (mnt) => {
    const dir = join(mnt, "hoist-lvm");
    mkdirSync(dir);
    copyFileSync(process.execPath, join(dir, "node"));
    chmodSync(join(dir, "node"), 0o755);
    copyFileSync(runner, join(dir, "runner.mjs"));
    copyFileSync(tarFile, join(dir, "tree.tar"));
    writeFileSync(join(dir, "options.json"), JSON.stringify(options));
    writeFileSync(join(dir, "uuid"), uuid);
    writeFileSync(join(dir, "run.sh"), GUEST_SCRIPT, { mode: 0o755 });
    writeFileSync(join(mnt, "etc/systemd/system/hoist-lvm.service"), GUEST_UNIT);
    symlinkSync("/etc/systemd/system/hoist-lvm.service", join(mnt, "etc/systemd/system/multi-user.target.wants/hoist-lvm.service"));
    // A login prompt on the serial line would hang up the console the script writes to.
    symlinkSync("/dev/null", join(mnt, "etc/systemd/system/serial-getty@ttyS0.service"));
  });
  const extra = join(base, "extra.qcow2");
  sh("qemu-img", ["create", "-q", "-f", "qcow2", extra, "1G"]);
  guest = bootGuest({
    kernel,
    initrd,
    append: "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet loglevel=3 systemd.show_status=0",
    disks: [
      { file: rootFile, format: "raw" },
      { file: extra, format: "qcow2", serial: "hoistlvm" },
    ],
    consoleLog: join(base, "console.log"),
    timeoutMs: 5 * 60_000,
    done: /HOIST-LVM-DONE|HOIST-LVM-FAIL/,
  });
  run = await guest.finished;
}, 7 * 60_000);

afterAll(async () => {
  await guest?.kill();
  if (job) await controlClient(job.token).json("DELETE", `/v1/jobs/${job.jobId}`).catch((e: unknown) => console.error(`could not release ${job?.jobId}:`, e));
  await receiver?.stop();
  releaseEverythingUnder(base, join(base, "no-hoist-home"));
});

describe("block copy of a mounted logical volume inside a guest", () => {
  it("copies from an LVM snapshot: the target holds the tree, fsck clean, only used data read, and no snapshot is left", () => {
    const tail = `\n--- guest console (${run.ended} after ${Math.round(run.ms / 1000)} s) ---\n${run.console.slice(-6000)}`;
    expect(line(run.console, "HOIST-LVM-FAIL"), tail).toBeUndefined();
    expect(line(run.console, "HOIST-LVM-ERROR"), tail).toBeUndefined();
    const raw = line(run.console, "HOIST-LVM-RESULT");
    expect(raw, tail).toBeDefined();
    const r = JSON.parse(raw ?? "{}") as BlockTransferResult;

    expect(r.consistency).toBe("snapshot");
    expect(r.passes).toBe(1);
    expect(r.fs).toBe("ext4");
    expect(r.sourceBytes).toBe(LV_BYTES);
    expect(r.finished).toMatchObject({ check: "clean", mounted: true });
    // Used data only: the tree plus ext4's metadata, far below the 256 MiB volume.
    expect(r.usedBytes).toBeGreaterThan(treeBytes);
    expect(r.usedBytes).toBeLessThan(treeBytes + 40 * MiB);
    // One pass read the used ranges (and the small gaps merged between them), not the volume.
    expect(r.bytesRead).toBe(r.bytesReadLastPass);
    expect(r.bytesRead).toBeGreaterThanOrEqual(r.usedBytes);
    expect(r.bytesRead).toBeLessThan(r.usedBytes * 1.1 + 4 * MiB);
    // And sent only those ranges: a chunk partly in use does not go whole, zeros and all.
    expect(r.bytesSent).toBeLessThanOrEqual(r.bytesRead + r.chunksSent * 1024);

    // The volume stayed mounted read-write through the copy, and its snapshot is gone.
    expect(line(run.console, "HOIST-LVM-MOUNT"), tail).toMatch(/^rw\b/);
    const lvs = line(run.console, "HOIST-LVM-LVS") ?? "";
    expect(lvs, tail).toMatch(/\blvdata,,/);
    expect(lvs).not.toMatch(/hoist-snap-/);
    expect(lvs.trim().split(/\s+/)).toHaveLength(1);
    // The agent said which snapshot it copied from: that one is gone.
    const snapLog = run.console.split(/\r?\n/).find((l) => l.includes("HOIST-LVM-LOG") && l.includes("copying from an LVM snapshot"));
    const snapshot = /hoist-snap-[0-9a-f]{8}/.exec(snapLog ?? "")?.[0];
    expect(snapshot, tail).toBeDefined();
    expect(lvs).not.toContain(snapshot);

    if (!job) throw new Error("no job");
    expect(compareTrees(hostTree, join(job.target, "tree"))).toEqual([]);
    const device = readJobState(job.jobDir).disks.disk1?.partitions["disk1-p1"]?.loop ?? "";
    expect(device).toMatch(/^\/dev\/loop\d+$/);
    expect(sh("blkid", ["-p", "-o", "value", "-s", "TYPE", device]).trim()).toBe("ext4");
    sh("umount", [job.target]);
    try {
      sh("blockdev", ["--flushbufs", device]);
      const fsck = spawnSync("e2fsck", ["-f", "-n", device], { encoding: "utf8" });
      expect(fsck.status, `${fsck.stdout}${fsck.stderr}`).toBe(0);
    } finally {
      sh("mount", [device, job.target]);
    }
  });
});

// `hoist check` as a user runs it: against a real debootstrapped Debian tree,
// against small trees whose initramfs (a real cpio archive made by cpio,
// compressed like distributions do) has or lacks virtio drivers, and against
// a live `hoist receiver` and a skewed-clock HTTPS server.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { createServer as createHttpsServer } from "node:https";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createTcpServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { debianFixture } from "../helpers/debian-fixture";

const HOIST = join(import.meta.dirname, "../../apps/hoist/bin/hoist");
const KERNEL = "6.1.0-99-amd64";

interface Item {
  id: string;
  status: "OK" | "WARN" | "FAIL";
  detail: string;
  fix?: string;
}

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "hoist-e2e-check-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

// Asynchronous on purpose: the stand-in HTTPS server below lives in this process and must keep answering.
function runHoist(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(HOIST, args, { cwd: work, stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (b: Buffer) => {
      stdout += b.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout }));
  });
}

async function hoistCheck(args: string[]): Promise<{ code: number; stdout: string; items: Item[] }> {
  const [text, json] = await Promise.all([runHoist(["check", ...args]), runHoist(["check", "--json", ...args])]);
  expect(json.code).toBe(text.code);
  return { code: text.code, stdout: text.stdout, items: (JSON.parse(json.stdout) as { items: Item[] }).items };
}

const item = (items: Item[], id: string): Item => {
  const found = items.find((i) => i.id === id);
  if (!found) throw new Error(`no ${id} item in ${JSON.stringify(items)}`);
  return found;
};

/** A newc cpio archive of `files`, made by the real cpio tool. */
function cpio(files: Record<string, string>): Buffer {
  const src = mkdtempSync(join(work, "cpio-"));
  for (const [path, body] of Object.entries(files)) {
    mkdirSync(dirname(join(src, path)), { recursive: true });
    writeFileSync(join(src, path), body);
  }
  const list = spawnSync("find", [".", "-mindepth", "1"], { cwd: src, encoding: "utf8" }).stdout;
  const out = spawnSync("cpio", ["-o", "-H", "newc", "--quiet"], { cwd: src, input: list, maxBuffer: 64 << 20 });
  expect(out.status).toBe(0);
  return out.stdout;
}

function compress(tool: "gzip" | "zstd", data: Buffer): Buffer {
  const out = spawnSync(tool, ["-c", "-q"], { input: data, maxBuffer: 64 << 20 });
  expect(out.status).toBe(0);
  return out.stdout;
}

/** A minimal Linux tree: a kernel, its initramfs and module list, and dpkg's record of GRUB. */
function makeTree(name: string, opts: { initramfs: Buffer; modulesDep: string; grub: string }): string {
  const root = join(work, name);
  mkdirSync(join(root, "boot"), { recursive: true });
  mkdirSync(join(root, "lib/modules", KERNEL), { recursive: true });
  mkdirSync(join(root, "var/lib/dpkg"), { recursive: true });
  writeFileSync(join(root, "boot", `vmlinuz-${KERNEL}`), "kernel");
  writeFileSync(join(root, "boot", `initrd.img-${KERNEL}`), opts.initramfs);
  writeFileSync(join(root, "lib/modules", KERNEL, "modules.dep"), opts.modulesDep);
  writeFileSync(join(root, "lib/modules", KERNEL, "modules.builtin"), "kernel/drivers/tty/serial/8250/8250.ko\n");
  writeFileSync(join(root, "var/lib/dpkg/status"), `Package: grub-common\nStatus: install ok installed\nVersion: ${opts.grub}\n\nPackage: rsync\nStatus: install ok installed\nVersion: 3.2.7-1\n`);
  return root;
}

const mod = (m: string) => `usr/lib/modules/${KERNEL}/kernel/drivers/${m}.ko`;

describe("hoist check --source-root", () => {
  it("passes a real Debian 12 tree whose initramfs carries virtio", async () => {
    const root = await debianFixture();
    const r = await hoistCheck(["--source-root", root]);
    expect(r.code).toBe(0);
    expect(item(r.items, "virtio")).toMatchObject({ status: "OK" });
    expect(item(r.items, "virtio").detail).toContain("virtio_blk");
    expect(item(r.items, "grub").detail).toMatch(/^GRUB 2\.\d+/);
    expect(r.stdout).toMatch(/^OK {3}virtio /m);
    expect(r.stdout.trim().split("\n").pop()).toBe("OK: 6 OK, 0 WARN, 0 FAIL");
  });

  it("passes a tree whose zstd initramfs behind an early cpio has virtio_blk", async () => {
    const early = cpio({ "kernel/x86/microcode/GenuineIntel.bin": "ucode" });
    const main = compress("zstd", cpio({ [mod("block/virtio_blk")]: "elf", [mod("virtio/virtio_pci")]: "elf", "init": "#!/bin/sh\n" }));
    const root = makeTree("with-virtio", { initramfs: Buffer.concat([early, main]), modulesDep: "kernel/drivers/block/virtio_blk.ko:\n", grub: "2.06-13+deb12u1" });
    const r = await hoistCheck(["--source-root", root]);
    expect(item(r.items, "virtio")).toMatchObject({ status: "OK", detail: `initramfs of kernel ${KERNEL} has virtio_blk` });
    expect(item(r.items, "grub")).toMatchObject({ status: "OK", detail: "GRUB 2.06 (dpkg package grub-common)" });
    expect(r.code).toBe(0);
  });

  it("fails a tree whose initramfs and modules have no virtio disk driver, and an old GRUB", async () => {
    const initramfs = compress("gzip", cpio({ [mod("ata/ata_piix")]: "elf", [mod("scsi/sd_mod")]: "elf", "init": "#!/bin/sh\n" }));
    const root = makeTree("without-virtio", { initramfs, modulesDep: "kernel/drivers/ata/ata_piix.ko:\n", grub: "0.97-66" });
    const r = await hoistCheck(["--source-root", root]);
    expect(r.code).toBe(1);
    const virtio = item(r.items, "virtio");
    expect(virtio.status).toBe("FAIL");
    expect(virtio.detail).toContain("no virtio disk driver");
    expect(virtio.fix).toContain("update-initramfs -u");
    expect(item(r.items, "grub")).toMatchObject({ status: "FAIL", detail: "GRUB 0.97 (dpkg package grub-common) is older than 1.9" });
    expect(r.stdout).toMatch(/^FAIL virtio .* -- Fix: Add virtio_blk/m);
    expect(r.stdout.trim().split("\n").pop()).toMatch(/^FAIL: \d OK, \d WARN, 2 FAIL$/);
  });

  it("warns when the kernel ships virtio but the initramfs lacks it", async () => {
    const initramfs = compress("gzip", cpio({ [mod("ata/ata_piix")]: "elf" }));
    const root = makeTree("virtio-module-only", { initramfs, modulesDep: "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko\n", grub: "2.06-13" });
    const r = await hoistCheck(["--source-root", root]);
    expect(item(r.items, "virtio")).toMatchObject({ status: "WARN" });
    expect(r.code).toBe(0);
  });

  it("warns when the tree boots with SELinux enforcing", async () => {
    const root = makeTree("selinux", { initramfs: compress("gzip", cpio({ [mod("block/virtio_blk")]: "elf" })), modulesDep: "", grub: "2.06" });
    mkdirSync(join(root, "etc/selinux"), { recursive: true });
    writeFileSync(join(root, "etc/selinux/config"), "SELINUXTYPE=targeted\nSELINUX=enforcing\n");
    expect(item((await hoistCheck(["--source-root", root])).items, "selinux")).toMatchObject({ status: "WARN" });
  });
});

describe("hoist check --receiver", () => {
  let receiver: ChildProcess | undefined;
  let ready: { controlPort: number; dataPort: number; fingerprint: string };

  beforeAll(async () => {
    const stateDir = join(work, "receiver-state");
    receiver = spawn(HOIST, ["receiver", "--state-dir", stateDir, "--control-port", "0", "--data-port", "0", "--listen", "127.0.0.1", "--target-backend", "dir"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const lines = createInterface({ input: receiver.stdout! });
    ready = await new Promise((resolve, reject) => {
      lines.on("line", (l) => {
        if (l.includes('"ready"')) resolve(JSON.parse(l));
      });
      receiver!.once("exit", (code) => reject(new Error(`receiver exited with ${code}`)));
    });
  });
  afterAll(() => {
    receiver?.kill("SIGTERM");
  });

  it("passes against a live receiver with its fingerprint pinned", async () => {
    const colons = ready.fingerprint.toUpperCase().replace(/(..)(?!$)/g, "$1:");
    const r = await hoistCheck(["--receiver", "127.0.0.1", "--control-port", String(ready.controlPort), "--data-port", String(ready.dataPort), "--fingerprint", colons]);
    expect(item(r.items, "control-port").status).toBe("OK");
    expect(item(r.items, "data-port").status).toBe("OK");
    expect(item(r.items, "receiver-certificate").status).toBe("OK");
    const clock = item(r.items, "clock");
    expect(clock.status).toBe("OK");
    expect(Number(/is ([\d.]+) s/.exec(clock.detail)?.[1])).toBeLessThan(5);
  });

  it("fails when the certificate is not the pinned one", async () => {
    const r = await hoistCheck(["--receiver", "127.0.0.1", "--control-port", String(ready.controlPort), "--data-port", String(ready.dataPort), "--fingerprint", "ab".repeat(32)]);
    expect(r.code).toBe(1);
    expect(item(r.items, "receiver-certificate")).toMatchObject({ status: "FAIL" });
    expect(item(r.items, "receiver-certificate").detail).toContain(ready.fingerprint);
  });

  it("fails on a clock 5 minutes off and on a closed data port", async () => {
    // A stand-in receiver whose clock is wrong: a plain HTTPS server with an openssl self-signed certificate.
    const key = join(work, "skew.key");
    const cert = join(work, "skew.crt");
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=skew"], { stdio: "ignore" });
    const server = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ version: "test", time: new Date(Date.now() - 300_000).toISOString(), hostname: "skew" }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const closed = createTcpServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    try {
      const port = (server.address() as { port: number }).port;
      const fingerprint = execFileSync("openssl", ["x509", "-in", cert, "-noout", "-fingerprint", "-sha256"], { encoding: "utf8" }).split("=")[1]!.trim();
      const r = await hoistCheck(["--receiver", "127.0.0.1", "--control-port", String(port), "--data-port", String(closedPort), "--fingerprint", fingerprint]);
      expect(r.code).toBe(1);
      expect(item(r.items, "receiver-certificate").status).toBe("OK");
      expect(item(r.items, "control-port").status).toBe("OK");
      const clock = item(r.items, "clock");
      expect(clock.status).toBe("FAIL");
      // The receiver's time is read half a round trip after it was stamped, so the skew is 300 s give or take that.
      const skew = /this clock is (\d+\.\d) s ahead of the receiver \(limit 60 s\)/.exec(clock.detail ?? "");
      expect(skew, clock.detail).not.toBeNull();
      expect(Math.abs(Number(skew?.[1]) - 300)).toBeLessThan(5);
      expect(clock.fix).toContain("NTP");
      expect(item(r.items, "data-port")).toMatchObject({ status: "FAIL" });
      expect(item(r.items, "data-port").detail).toContain("ECONNREFUSED");
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

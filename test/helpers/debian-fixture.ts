// A debootstrapped Debian 12 root that the image tests migrate. Building it
// takes minutes and ~800 MB, so it is built once per recipe into a cache
// outside the repository, under a lock (several test runs may want it at
// once), into a temp folder that is renamed into place only when whole.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const SUITE = "bookworm";
const MIRROR = process.env.HOIST_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
const PACKAGES = [
  "systemd-sysv",
  "linux-image-amd64",
  "udev",
  "initramfs-tools",
  "grub-pc-bin",
  "grub-efi-amd64-bin",
  "grub2-common",
  "ifupdown",
  "isc-dhcp-client",
  "kmod",
  "e2fsprogs",
  "xfsprogs",
  "dosfstools",
  "lvm2",
];

export const fixtureRecipe = { suite: SUITE, variant: "minbase", packages: PACKAGES, mirror: MIRROR, version: 1 };

function recipeKey(): string {
  return createHash("sha256").update(JSON.stringify(fixtureRecipe)).digest("hex").slice(0, 16);
}

export function fixtureDir(): string {
  const base = process.env.HOIST_FIXTURE_CACHE ?? "/var/cache/hoist-fixtures";
  return join(base, recipeKey());
}

function exec(cmd: string, args: string[], logFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => chunks.push(b));
    child.stderr.on("data", (b: Buffer) => chunks.push(b));
    child.on("error", reject);
    child.on("close", (code) => {
      const text = Buffer.concat(chunks).toString("utf8");
      writeFileSync(logFile, text);
      if (code === 0) resolve();
      else reject(new Error(`${cmd} failed (exit ${code}); see ${logFile}: ${text.split("\n").slice(-8).join("\n")}`));
    });
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Takes the build lock (a directory, created atomically), waiting while a live builder holds it. */
async function withLock<T>(lockDir: string, body: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 20 * 60_000;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, "pid"), String(process.pid));
      break;
    } catch {
      let holder = 0;
      try {
        holder = Number(readFileSync(join(lockDir, "pid"), "utf8"));
      } catch {
        // the holder may not have written its pid yet
      }
      if (holder > 0 && !pidAlive(holder)) {
        rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for the fixture build lock ${lockDir}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  try {
    return await body();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

/** Path of the cached Debian 12 root, building it first if needed. */
export async function debianFixture(): Promise<string> {
  const dir = fixtureDir();
  const root = join(dir, "root");
  if (existsSync(join(root, "etc", "os-release"))) return root;
  mkdirSync(dir, { recursive: true });
  return withLock(join(dir, ".lock"), async () => {
    if (existsSync(join(root, "etc", "os-release"))) return root;
    const tmp = join(dir, `.build-${process.pid}`);
    rmSync(tmp, { recursive: true, force: true });
    await exec("debootstrap", ["--variant=minbase", `--include=${PACKAGES.join(",")}`, SUITE, tmp, MIRROR], join(dir, "debootstrap.log"));
    // The migrated system is reached through the serial console only; an empty root password lets a person log in there when debugging.
    await exec("chroot", [tmp, "passwd", "-d", "root"], join(dir, "passwd.log"));
    writeFileSync(join(tmp, "etc", "hostname"), "hoist-fixture\n");
    // Build leftovers would make the image bigger for nothing.
    rmSync(join(tmp, "var", "cache", "apt", "archives"), { recursive: true, force: true });
    mkdirSync(join(tmp, "var", "cache", "apt", "archives", "partial"), { recursive: true });
    renameSync(tmp, root);
    return root;
  });
}

/**
 * A writable view of the cached Debian root at `<base>/<name>`: an overlay
 * whose changes go to `<base>/<name>.upper`, so a test adds its own data
 * without copying 800 MB or touching the cache. releaseEverythingUnder(base)
 * unmounts it.
 */
export async function writableDebianSource(base: string, name = "source"): Promise<string> {
  const fixture = await debianFixture();
  const source = join(base, name);
  const upper = join(base, `${name}.upper`);
  const work = join(base, `${name}.work`);
  for (const d of [upper, work, source]) mkdirSync(d, { recursive: true });
  execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${fixture},upperdir=${upper},workdir=${work}`, source]);
  return source;
}

/**
 * A copy at `file` of an ext4 filesystem image (no partition table, sparse, `gib` GiB) holding the
 * Debian fixture, with a new UUID (and `label`, if given). The filled image is made once per recipe
 * and size beside the cached tree, so a test that needs the tree as a partition of its own copies
 * about 800 MB of allocated blocks instead of writing 30,000 files into a new filesystem.
 */
export async function debianExt4Image(file: string, gib: number, label?: string): Promise<string> {
  const fixture = await debianFixture();
  const cached = join(fixtureDir(), `root-ext4-${gib}g.img`);
  if (!existsSync(cached)) {
    await withLock(join(fixtureDir(), ".lock"), async () => {
      if (existsSync(cached)) return;
      const tmp = `${cached}.build-${process.pid}`;
      const mnt = `${tmp}.mnt`;
      rmSync(tmp, { force: true });
      execFileSync("truncate", ["-s", `${gib}G`, tmp]);
      execFileSync("mkfs.ext4", ["-q", "-F", tmp]);
      mkdirSync(mnt, { recursive: true });
      execFileSync("mount", ["-o", "loop", tmp, mnt]);
      try {
        execFileSync("cp", ["-a", `${fixture}/.`, mnt]);
      } finally {
        execFileSync("umount", [mnt]);
        rmSync(mnt, { recursive: true, force: true });
      }
      renameSync(tmp, cached);
    });
  }
  execFileSync("cp", ["--sparse=always", cached, file]);
  execFileSync("tune2fs", ["-U", "random", ...(label ? ["-L", label] : []), file], { stdio: "ignore" });
  return file;
}

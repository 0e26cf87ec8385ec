// The go2aliyun_client-compatible front end of a migration, on real workdirs
// and through the built `hoist migrate`:
// bad user_config.json files and flags are refused with their stable codes
// before anything is created, and a good one resumes or refuses changed disk
// settings through client_data exactly as the seed's FAQ describes.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  clearClientData,
  loadClientData,
  openRunLog,
  parseMigrateFlags,
  prepareMigration,
  resumeOrStart,
  saveClientData,
  saveClientToken,
} from "@hoist/agent";
import { type ConfigProblem, isHoistError } from "@hoist/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedLinuxUserConfig } from "../helpers/user-config";

const ROOT = join(import.meta.dirname, "../..");
const HOIST = join(ROOT, "apps/hoist/bin/hoist");

let base: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "hoist-e2e-config-"));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

let counter = 0;
/** A workdir as a user unpacks it: user_config.json and an Excludes folder. */
function workdir(config: unknown, excludes: Record<string, string> = {}): string {
  const dir = join(base, `w${++counter}`);
  mkdirSync(join(dir, "Excludes"), { recursive: true });
  writeFileSync(join(dir, "user_config.json"), typeof config === "string" ? config : JSON.stringify(config, null, 4));
  for (const [name, text] of Object.entries(excludes)) writeFileSync(join(dir, "Excludes", name), text);
  return dir;
}

function listing(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
}

/** Runs the front end as `hoist migrate` does first, returning the codes it refused with. */
function refusal(dir: string, argv: string[]): { code: string; problems: string[]; message: string } {
  const before = listing(dir);
  try {
    prepareMigration({ workdir: dir, flags: parseMigrateFlags(["--source-root", base, ...argv]) });
  } catch (e) {
    if (!isHoistError(e)) throw e;
    // Nothing may be created by a refused run: no client_data, no token, no Logs/.
    expect(listing(dir)).toEqual(before);
    const problems = ((e.details?.problems as ConfigProblem[] | undefined) ?? []).map((p) => p.code);
    return { code: e.code, problems, message: e.message };
  }
  throw new Error("the settings were accepted");
}

const seedLinux = seedLinuxUserConfig();

describe("bad settings are refused before anything is created", () => {
  it.each([
    ["a trailing comma", '{\n    "image_name": "img",\n    "system_disk_size": 40,\n}', [], "Config.InvalidJson", []],
    ["a system disk of 10 GiB", { ...seedLinux, system_disk_size: 10 }, [], "Config.Invalid", ["Config.InvalidSystemDiskSize"]],
    ["a lowercase platform", { ...seedLinux, platform: "centos" }, [], "Config.Invalid", ["Config.InvalidPlatform"]],
    ["a data disk on /etc", { ...seedLinux, data_disks: [{ data_disk_index: 1, data_disk_size: 100, src_path: "/etc" }] }, [], "Config.Invalid", ["Config.InvalidSrcPath"]],
    ["17 data disks", { ...seedLinux, data_disks: Array.from({ length: 17 }, (_, i) => ({ data_disk_index: (i % 16) + 1, data_disk_size: 20, src_path: `/d${i}` })) }, [], "Config.Invalid", ["Config.TooManyDataDisks", "Config.DuplicateDataDiskIndex"]],
    ["a bad --systemdisksize", seedLinux, ["--systemdisksize=5000"], "Config.Invalid", ["Config.InvalidSystemDiskSize"]],
    ["a malformed --datadisks", seedLinux, ["--datadisks=1|100"], "Config.Invalid", ["Config.InvalidDataDisksFlag"]],
    ["an unknown flag", seedLinux, ["--imagenme=x"], "Config.UnknownFlag", []],
    ["a .. in an exclude file", seedLinux, [], "Config.InvalidExclude", [], { "rsync_excludes_linux_disk2.txt": "/ok\n../../etc\n" }],
  ] as [string, unknown, string[], string, string[], Record<string, string>?][])("refuses %s", (_why, config, argv, code, problems, excludes) => {
    const dir = workdir(config, excludes ?? {});
    const r = refusal(dir, [...argv]);
    expect(r.code).toBe(code);
    expect(r.problems).toEqual(problems);
    for (const p of problems) expect(r.message).toContain(p);
  });

  it("lists every problem of a file full of mistakes in one refusal", () => {
    const dir = workdir({ image_name: "_x", system_disk_size: "40", platform: "Ubuntu 22.04", architecture: "arm64", bandwidth_limit: -1, data_disks: [{ data_disk_index: 0, data_disk_size: 10, src_path: "relative" }] });
    const r = refusal(dir, ["--streams=0"]);
    expect(r.problems.sort()).toEqual(
      [
        "Config.InvalidImageName",
        "Config.InvalidSystemDiskSize",
        "Config.InvalidPlatform",
        "Config.InvalidArchitecture",
        "Config.InvalidBandwidthLimit",
        "Config.InvalidDataDiskIndex",
        "Config.InvalidDataDiskSize",
        "Config.InvalidSrcPath",
        "Config.InvalidParallelStreams",
      ].sort(),
    );
    expect(r.message).toContain('system_disk_size must be an integer number of GiB in [20, 500]; got the string "40"');
  });
});

describe("a good workdir", () => {
  it("gives typed settings, flags over the file, and every disk's excludes", () => {
    const dir = workdir(seedLinux, { "rsync_excludes_linux.txt": "# cache\n/var/mydirs/docs/words/\n", "rsync_excludes_linux_disk1.txt": "/mydirs/docs/words/\n" });
    const { config, excludes } = prepareMigration({ workdir: dir, flags: parseMigrateFlags(["--source-root", base, "--imagename=迁移_01", "--bandwidthlimit=2048", "--progressfile", join(dir, "progress")]) });
    expect(config.settings).toMatchObject({ image_name: "迁移_01", bandwidth_limit: 2048, system_disk_size: 50, region_id: "local" });
    expect(config.provider).toBe("local");
    expect(config.progressFile).toBe(join(dir, "progress"));
    expect(excludes.system).toEqual(["/dev/*", "/sys/*", "/proc/*", "/media/*", "lost+found/*", "/mnt/*", "/var/lib/lxcfs/*", "/mnt/disk1/*", "/mnt/disk2/*", "/var/mydirs/docs/words/"]);
    expect(excludes.dataDisks).toEqual({ 1: ["lost+found/*", "/mydirs/docs/words/"], 2: ["lost+found/*"] });
    expect(listing(dir)).toEqual(["Excludes", "Excludes/rsync_excludes_linux.txt", "Excludes/rsync_excludes_linux_disk1.txt", "user_config.json"]);
  });

  it("resumes with unchanged disks, refuses changed ones until --cleardata, and keeps secrets out of the workdir", () => {
    const secret = "SecretKeyValue-0123456789";
    const dir = workdir({ ...seedLinux, region_id: "cn-hangzhou", access_id: "LTAI5tAccessId01", secret_key: secret });
    const first = prepareMigration({ workdir: dir, flags: parseMigrateFlags(["--source-root", base]) }).config;
    const { logger } = openRunLog(dir, { secrets: [first.settings.access_id, secret], console: null });
    logger.info("starting", { secret_key: secret, note: `key ${secret}` });
    const started = resumeOrStart(dir, first.settings);
    expect(started.resumed).toBe(false);
    saveClientData(dir, { ...started.data, stage: "DoRsync", jobId: "j-00000000000000aa" }, [first.settings.access_id, secret]);
    saveClientToken(dir, "f".repeat(64));
    for (const f of listing(dir).filter((f) => !f.endsWith("user_config.json") && !f.startsWith("Excludes"))) {
      const text = readFileSyncSafe(join(dir, f));
      expect(text, f).not.toContain(secret);
      expect(text, f).not.toContain("LTAI5tAccessId01");
    }

    const again = prepareMigration({ workdir: dir, flags: parseMigrateFlags(["--source-root", base]) }).config;
    expect(resumeOrStart(dir, again.settings)).toMatchObject({ resumed: true, data: { stage: "DoRsync", jobId: "j-00000000000000aa" } });

    const bigger = prepareMigration({ workdir: dir, flags: parseMigrateFlags(["--source-root", base, "--systemdisksize=80"]) }).config;
    expect(() => resumeOrStart(dir, bigger.settings)).toThrow(expect.objectContaining({ code: "ClientData.SettingsChanged", fix: expect.stringContaining("--cleardata") }));

    const cleared = prepareMigration({ workdir: dir, flags: parseMigrateFlags(["--source-root", base, "--systemdisksize=80", "--cleardata"]) }).config;
    expect(cleared.clearData).toBe(true);
    clearClientData(dir);
    expect(loadClientData(dir)).toBeUndefined();
    expect(resumeOrStart(dir, cleared.settings).resumed).toBe(false);
  });

  it("reports a damaged client_data with --cleardata as the way out", () => {
    const dir = workdir(seedLinux);
    writeFileSync(join(dir, "client_data"), '{"version": 1, "stage": "Nowhere"');
    const { config } = prepareMigration({ workdir: dir, flags: parseMigrateFlags(["--source-root", base]) });
    expect(() => resumeOrStart(dir, config.settings)).toThrow(expect.objectContaining({ code: "ClientData.Corrupt", fix: expect.stringContaining("--cleardata") }));
  });
});

function readFileSyncSafe(path: string): string {
  return statSync(path).isDirectory() ? "" : readFileSync(path, "utf8");
}

describe("hoist migrate (the built CLI) validates before anything else", () => {
  function migrate(dir: string, argv: string[]) {
    // Intermediate instances and images would land here; a refused run must leave both untouched.
    const home = join(dir, "..", `${dir.split("/").pop()}-home`);
    const store = join(dir, "..", `${dir.split("/").pop()}-images`);
    const before = listing(dir);
    const r = spawnSync(HOIST, ["migrate", "--workdir", dir, "--source-root", base, "--noenterkey", "--nocheckversion", ...argv], {
      encoding: "utf8",
      env: { ...process.env, HOIST_HOME: home, HOIST_IMAGE_STORE: store },
      timeout: 60_000,
    });
    expect(listing(dir)).toEqual(before);
    expect(existsSync(home)).toBe(false);
    expect(existsSync(store)).toBe(false);
    return { status: r.status, stderr: r.stderr, stdout: r.stdout };
  }

  it("refuses a JSON syntax error with its line and column", () => {
    const r = migrate(workdir('{\n    "image_name": "img"\n    "system_disk_size": 40\n}'), []);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("Error Config.InvalidJson:");
    expect(r.stderr).toContain("line 3, column 5");
  });

  it("prints every problem's code from the file and the flags", () => {
    const r = migrate(workdir({ ...seedLinux, system_disk_size: 10, platform: "centos" }), ["--datadisks=1|100|/mnt/disk1;2|150", "--bandwidthlimit=fast"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("Error Config.Invalid: The migration settings have 4 problems:");
    for (const code of ["Config.InvalidSystemDiskSize", "Config.InvalidPlatform", "Config.InvalidDataDisksFlag", "Config.InvalidBandwidthLimit"]) expect(r.stderr).toContain(`  ${code}: `);
    expect(r.stderr).toContain("--bandwidthlimit: bandwidth_limit must be an integer");
    expect(r.stderr).toContain("Nothing was copied or created.");
  });

  it("refuses a data disk on a system directory and a bad image name given as flags", () => {
    const r = migrate(workdir(seedLinux), ["--imagename=-bad", "--datadisks=1|100|/usr"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("  Config.InvalidImageName: --imagename: image_name must be");
    expect(r.stderr).toContain("  Config.InvalidSrcPath: --datadisks: data_disks[0].src_path cannot be /root or a system directory");
  });

  it("refuses an exclude pattern with ..", () => {
    const r = migrate(workdir(seedLinux, { "rsync_excludes_linux.txt": "/var/../etc\n" }), []);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("Error Config.InvalidExclude:");
  });

  it("refuses a misspelt flag", () => {
    const r = migrate(workdir(seedLinux), ["--imagenme=x"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("unknown option '--imagenme=x'");
  });
});

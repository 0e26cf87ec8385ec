// `hoist migrate` as a user runs it: the built CLI, a working folder with
// user_config.json, a source tree given with --source-root, the embedded local
// intermediate instance. The copy is checked by the independent comparer on
// the target filesystem the receiver mounted; then the agent is killed with
// SIGKILL mid-copy several times and a rerun must still end exact; then
// --cleardata must release everything the runs created.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseEverythingUnder } from "../helpers/cleanup";
import { type HoistRun, localMigration, writeUserConfig } from "../helpers/local-migration";
import { HOIST } from "../helpers/server-cli";
import { buildFidelityTree, compareTrees } from "../helpers/tree";
import { debianUserConfig } from "../helpers/user-config";

const { base, env, hoist } = localMigration("hoist-migrate-cli-");

function writeConfig(workdir: string, imageName: string, extra: Record<string, unknown> = {}): void {
  writeUserConfig(workdir, debianUserConfig(imageName, extra), 2);
}

function migrate(args: string[]): HoistRun {
  return hoist(["migrate", "--noenterkey", ...args], 20 * 60_000);
}

/** The target root the receiver mounted for a disk of the job recorded in client_data. */
function targetMount(workdir: string, disk = "system"): string {
  const data = JSON.parse(readFileSync(join(workdir, "client_data"), "utf8")) as { jobId: string; intermediateInstance: { instanceId: string } };
  return join(env.HOIST_HOME, "instances", data.intermediateInstance.instanceId, "jobs", data.jobId, "mnt", disk);
}

function loopsUnder(dir: string): string[] {
  return execFileSync("losetup", ["-a"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(dir));
}

afterAll(() => {
  // Whatever a failed test left behind: receivers, mounts, loop devices, files.
  releaseEverythingUnder(base, env.HOIST_HOME);
});

describe("hoist migrate --source-root --copy-only", () => {
  const src = join(base, "fidelity-src");
  const workdir = join(base, "fidelity-work");

  beforeAll(() => {
    buildFidelityTree(src);
    // What the default excludes must leave empty, as on a real root.
    for (const d of ["proc/1", "sys/kernel", "dev/pts", "tmp-kept"]) mkdirSync(join(src, d), { recursive: true });
    writeFileSync(join(src, "proc/1/status"), "not copied\n");
    writeFileSync(join(src, "dev/pts/0"), "not copied\n");
    writeConfig(workdir, "fidelity-copy");
    mkdirSync(join(workdir, "Excludes"), { recursive: true });
    writeFileSync(join(workdir, "Excludes/rsync_excludes_linux.txt"), "# the user's own excludes\n/tmp-kept/*\n");
    writeFileSync(join(src, "tmp-kept/skip-me"), "excluded by the user\n");
  });

  it("copies every kind of file exactly, over TLS, into a real filesystem", () => {
    const r = migrate(["--workdir", workdir, "--source-root", src, "--copy-only", "--compression", "0", "--streams", "4"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    // Nothing touched the tree while it was copied, and every kind of file in it compares equal to itself.
    expect(r.stdout).not.toContain("Changed on the source");
    const target = targetMount(workdir);
    const diffs = compareTrees(src, target, { excludedContents: ["proc", "sys", "dev", "tmp-kept"] }).filter((d) => !d.startsWith('"lost+found"'));
    expect(diffs).toEqual([]);
    // The excluded folders exist, empty.
    for (const d of ["proc", "sys", "dev", "tmp-kept"]) expect(readdirSync(join(target, d))).toEqual([]);
  });

  it("keeps the job token out of client_data and the logs", () => {
    const token = readFileSync(join(workdir, ".client_token"), "utf8").trim();
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    const clientData = readFileSync(join(workdir, "client_data"), "utf8");
    expect(clientData).not.toContain(token);
    for (const f of readdirSync(join(workdir, "Logs"))) expect(readFileSync(join(workdir, "Logs", f), "utf8")).not.toContain(token);
  });

  it("re-syncs changes on a second run", () => {
    writeFileSync(join(src, "added-later.txt"), "new\n");
    rmSync(join(src, "tmp-kept/skip-me"));
    const r = migrate(["--workdir", workdir, "--source-root", src, "--copy-only", "--compression", "3", "--checksum"]);
    expect(r.status).toBe(0);
    const diffs = compareTrees(src, targetMount(workdir), { excludedContents: ["proc", "sys", "dev", "tmp-kept"] }).filter((d) => !d.startsWith('"lost+found"'));
    expect(diffs).toEqual([]);
  });

  it("--cleardata releases the intermediate instance and its disks", () => {
    const data = JSON.parse(readFileSync(join(workdir, "client_data"), "utf8")) as { intermediateInstance: { instanceId: string } };
    const instanceDir = join(env.HOIST_HOME, "instances", data.intermediateInstance.instanceId);
    expect(existsSync(instanceDir)).toBe(true);
    const r = migrate(["--workdir", workdir, "--source-root", src, "--copy-only", "--cleardata"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`released intermediate instance ${data.intermediateInstance.instanceId}`);
    expect(existsSync(instanceDir)).toBe(false);
    expect(loopsUnder(instanceDir)).toEqual([]);
    // The rerun after clearing made a fresh instance and copied everything again.
    const fresh = JSON.parse(readFileSync(join(workdir, "client_data"), "utf8")) as { intermediateInstance: { instanceId: string } };
    expect(fresh.intermediateInstance.instanceId).not.toBe(data.intermediateInstance.instanceId);
    expect(compareTrees(src, targetMount(workdir), { excludedContents: ["proc", "sys", "dev", "tmp-kept"] }).filter((d) => !d.startsWith('"lost+found"'))).toEqual([]);
  });
});

describe("hoist migrate after SIGKILL", () => {
  const src = join(base, "big-src");
  const workdir = join(base, "big-work");

  beforeAll(() => {
    // ~320 MB in large files plus a few thousand small ones, so kills land mid-copy.
    mkdirSync(join(src, "large"), { recursive: true });
    for (let i = 0; i < 5; i++) {
      const chunk = randomBytes(8 * 2 ** 20);
      const fd = join(src, "large", `blob-${i}.bin`);
      writeFileSync(fd, Buffer.alloc(0));
      for (let j = 0; j < 8; j++) writeFileSync(fd, chunk, { flag: "a" });
    }
    for (let d = 0; d < 20; d++) {
      mkdirSync(join(src, "small", `d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) writeFileSync(join(src, "small", `d${d}`, `f${f}`), randomBytes(1024 + ((d * 100 + f) % 4096)));
    }
    // Slow enough (2.5 MB/s a stream) that three rounds cannot finish the copy between them.
    writeConfig(workdir, "killed-copy", { bandwidth_limit: 10_000 });
  });

  it("resumes after the agent is killed three times and ends exact", async () => {
    const progressFile = join(base, "big-progress");
    for (let round = 0; round < 3; round++) {
      // Only this round's own progress counts.
      rmSync(progressFile, { force: true });
      const agent: ChildProcess = spawn(HOIST, ["migrate", "--noenterkey", "--workdir", workdir, "--source-root", src, "--copy-only", "--compression", "0", "--progressfile", progressFile], {
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      agent.stdout?.on("data", (b: Buffer) => (output += b.toString()));
      agent.stderr?.on("data", (b: Buffer) => (output += b.toString()));
      const exited = new Promise<void>((r) => agent.once("exit", () => r()));
      // Kill once the copy is under way (percent past the preparing stage).
      const deadline = Date.now() + 5 * 60_000;
      let percent = 0;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        const lines = existsSync(progressFile) ? readFileSync(progressFile, "utf8").split("\n") : [];
        percent = Number(lines[1] ?? 0);
        // A resumed run counts only what it sends itself, so each round waits for 5 % of new copying.
        if (lines[0] === "DoRsync" && percent >= 5) break;
      }
      expect(agent.exitCode, `round ${round}: the agent ended before it was killed:\n${output}`).toBeNull();
      agent.kill("SIGKILL");
      await exited;
      expect(percent, `round ${round}:\n${output}`).toBeLessThan(90);
    }
    const target = targetMount(workdir);
    expect(compareTrees(src, target).filter((d) => !d.startsWith('"lost+found"')).length).toBeGreaterThan(0);
    const r = migrate(["--workdir", workdir, "--source-root", src, "--copy-only", "--bandwidthlimit", "0", "--compression", "0"]);
    expect(r.status).toBe(0);
    expect(compareTrees(src, target).filter((d) => !d.startsWith('"lost+found"'))).toEqual([]);
  });

  it("resumes after the receiver (the intermediate instance) is killed, and --abort stops a running agent", async () => {
    // Change the source so there is something to copy again.
    rmSync(join(src, "large"), { recursive: true });
    mkdirSync(join(src, "large2"), { recursive: true });
    for (let i = 0; i < 4; i++) writeFileSync(join(src, "large2", `b${i}.bin`), randomBytes(32 * 2 ** 20));
    const progressFile = join(base, "big-progress-2");
    const startAgent = () => {
      const agent = spawn(HOIST, ["migrate", "--noenterkey", "--workdir", workdir, "--source-root", src, "--copy-only", "--compression", "0", "--bandwidthlimit", "20000", "--progressfile", progressFile], {
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      agent.stdout?.on("data", (b: Buffer) => (out += b.toString()));
      agent.stderr?.on("data", (b: Buffer) => (out += b.toString()));
      const exited = new Promise<number | null>((r) => agent.once("exit", (code) => r(code)));
      return { agent, exited, output: () => out };
    };
    const waitForCopy = async () => {
      rmSync(progressFile, { force: true });
      const deadline = Date.now() + 3 * 60_000;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        const lines = existsSync(progressFile) ? readFileSync(progressFile, "utf8").split("\n") : [];
        if (lines[0] === "DoRsync" && Number(lines[1]) >= 10) return;
      }
      throw new Error("the copy never got under way");
    };

    // The receiver dies mid-copy: the agent stops with a retryable error and says it did not finish.
    const first = startAgent();
    await waitForCopy();
    const data = JSON.parse(readFileSync(join(workdir, "client_data"), "utf8")) as { intermediateInstance: { instanceId: string } };
    const facts = JSON.parse(readFileSync(join(env.HOIST_HOME, "instances", data.intermediateInstance.instanceId, "receiver.json"), "utf8")) as { pid: number };
    process.kill(facts.pid, "SIGKILL");
    expect(await first.exited).toBe(1);
    expect(first.output()).toContain("Goto Hoist Not Finished!");

    // --abort from another shell stops the next run.
    const second = startAgent();
    await waitForCopy();
    const abort = migrate(["--workdir", workdir, "--abort"]);
    expect(abort.status).toBe(0);
    expect(abort.stdout).toContain("Stopped hoist migrate");
    expect(await second.exited).not.toBe(0);
    expect(second.output()).toContain("Goto Hoist Not Finished!");

    // The next run restarts the intermediate instance's receiver, re-attaches its disks and ends exact.
    const r = migrate(["--workdir", workdir, "--source-root", src, "--copy-only", "--bandwidthlimit", "0", "--compression", "0"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(compareTrees(src, targetMount(workdir)).filter((d) => !d.startsWith('"lost+found"'))).toEqual([]);
  });
});

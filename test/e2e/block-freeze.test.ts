// The last pass of a live block copy freezes the source filesystem. The freeze
// must never outlive its bound: when the agent is killed with SIGKILL while the
// filesystem is frozen, and when the agent hangs past the deadline, the thaw
// watchdog thaws it and blocked writers carry on.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleRunner } from "../helpers/build";
import { releaseEverythingUnder } from "../helpers/cleanup";

const base = mkdtempSync("/var/tmp/hoist-block-freeze-");
const mnt = join(base, "mnt");
const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
let runner = "";
const children: ChildProcess[] = [];

beforeAll(async () => {
  const image = join(base, "fs.img");
  writeFileSync(image, "");
  sh("truncate", ["-s", "64M", image]);
  sh("mkfs.ext4", ["-F", "-q", image]);
  const dev = sh("losetup", ["--find", "--show", image]).trim();
  mkdirSync(mnt);
  sh("mount", [dev, mnt]);
  runner = join(base, "freeze-runner.mjs");
  // An agent that freezes the filesystem and then never thaws it by itself.
  await bundleRunner(
    `import { freezeFilesystem } from "@hoist/agent";
import { silentLogger } from "@hoist/runtime";
await freezeFilesystem(process.argv[2], Number(process.argv[3]), silentLogger);
process.stdout.write("frozen\\n");
setInterval(() => {}, 1000);`,
    runner,
  );
});

afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
  // Never leave a frozen filesystem behind, whatever failed.
  spawnSync("fsfreeze", ["-u", mnt]);
}, 30_000);

afterAll(() => releaseEverythingUnder(base, join(base, "no-home")));

async function freezeInChild(timeoutMs: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [runner, mnt, String(timeoutMs)], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  await new Promise<void>((res, rej) => {
    createInterface({ input: child.stdout! }).once("line", () => res());
    child.once("exit", (c) => rej(new Error(`the freezing agent exited with ${c}`)));
  });
  return child;
}

/** Starts a write into the filesystem; resolves with how long it took (it blocks while frozen). */
function write(name: string): Promise<number> {
  const started = Date.now();
  const w = spawn("dd", ["if=/dev/zero", `of=${join(mnt, name)}`, "bs=4k", "count=1", "conv=fsync", "status=none"]);
  children.push(w);
  return new Promise((res) => w.once("close", () => res(Date.now() - started)));
}

describe("bounded fsfreeze", () => {
  it("thaws when the agent is killed with SIGKILL while the filesystem is frozen", async () => {
    const agent = await freezeInChild(120_000);
    let done = false;
    const blocked = write("during-freeze-1").then((ms) => {
      done = true;
      return ms;
    });
    await new Promise((r) => setTimeout(r, 1500));
    expect(done).toBe(false);
    const killedAt = Date.now();
    agent.kill("SIGKILL");
    await blocked;
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    expect(existsSync(join(mnt, "during-freeze-1"))).toBe(true);
  });

  it("thaws at the deadline when the agent hangs", async () => {
    const agent = await freezeInChild(1500);
    const frozenAt = Date.now();
    const ms = await write("during-freeze-2");
    // The watchdog allows two seconds beyond the deadline the copy itself keeps.
    expect(Date.now() - frozenAt).toBeLessThan(12_000);
    expect(ms).toBeGreaterThan(500);
    expect(agent.exitCode).toBeNull();
    agent.kill("SIGKILL");
  });
});

// What an end-to-end test of `hoist migrate` may leave behind when it fails:
// receivers of its intermediate instances, mounts, loop devices and files, all
// under the test's own folder. Taken down in that order, touching nothing else.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

export function releaseEverythingUnder(base: string, hoistHome: string): void {
  const instances = join(hoistHome, "instances");
  for (const id of existsSync(instances) ? readdirSync(instances) : []) {
    try {
      process.kill((JSON.parse(readFileSync(join(instances, id, "receiver.json"), "utf8")) as { pid: number }).pid, "SIGKILL");
    } catch {
      // not running
    }
  }
  const mounts = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((m) => m.startsWith(base))
    .reverse();
  for (const m of mounts) spawnSync("umount", ["-l", m]);
  for (const line of execFileSync("losetup", ["-a"], { encoding: "utf8" }).split("\n").filter((l) => l.includes(base))) {
    const dev = line.split(":")[0];
    if (dev) spawnSync("losetup", ["-d", dev]);
  }
  rmSync(base, { recursive: true, force: true });
}

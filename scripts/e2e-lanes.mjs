// Runs the end-to-end tests in two lanes at once: the `e2e-boot` project
// (QEMU boots and large copies, which keep both cores busy) and the `e2e`
// project (everything else: rate-limited copies, fault trials, servers and
// networks, which mostly wait). Each lane runs its files one at a time. Lines
// are prefixed with their lane; each lane's durations go to
// test-output/e2e-<lane>.json. Exits non-zero when either lane fails.
// Arguments are passed to both vitest runs (e.g. a file filter).
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const lanes = ["e2e-boot", "e2e"];
mkdirSync(join(root, "test-output"), { recursive: true });

function runLane(lane) {
  const started = Date.now();
  const args = ["vitest", "run", "--project", lane, "--passWithNoTests", "--reporter=default", "--reporter=json", `--outputFile.json=test-output/${lane}.json`, ...process.argv.slice(2)];
  const child = spawn("npx", args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" } });
  const tag = `[${lane}] `;
  for (const stream of [child.stdout, child.stderr]) {
    let rest = "";
    stream.on("data", (b) => {
      const lines = (rest + b.toString("utf8")).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) process.stdout.write(`${tag}${line}\n`);
    });
    stream.on("end", () => {
      if (rest) process.stdout.write(`${tag}${rest}\n`);
    });
  }
  return new Promise((resolve) => {
    child.on("close", (code, signal) => resolve({ lane, code: code ?? 1, signal, seconds: Math.round((Date.now() - started) / 1000) }));
  });
}

const results = await Promise.all(lanes.map(runLane));
for (const r of results) console.log(`e2e lane ${r.lane}: ${r.code === 0 ? "passed" : `FAILED (exit ${r.code}${r.signal ? `, ${r.signal}` : ""})`} in ${Math.floor(r.seconds / 60)} min ${r.seconds % 60} s`);
process.exit(results.every((r) => r.code === 0) ? 0 : 1);

// The reliability soak: kill and cut trials between two test hosts for a
// given time, then a table of what was injected and how each trial ended.
// Run it with bench/soak.sh [minutes] [seed] as root.
import { mkdtempSync, rmSync } from "node:fs";
import { type Bench, type FaultKind, runTrial, setUpBench, type TrialResult, tearDownBench } from "../test/helpers/fault-trials";
import { seededRandom } from "../test/helpers/random";

const minutes = Number(process.argv[2] ?? 20);
const seed = Number(process.argv[3] ?? Date.now() % 1_000_000);
if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 24 * 60) {
  console.error(`soak: minutes must be a number from 1 to 1440 (got "${process.argv[2]}")`);
  process.exit(2);
}

const base = mkdtempSync("/var/tmp/hoist-soak-");
let bench: Bench | undefined;
let stopping = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    stopping = true;
  });
}

const kinds: FaultKind[] = ["agent-kill", "receiver-kill", "link-cut"];
const results: TrialResult[] = [];

function table(rows: TrialResult[]): string {
  const head = ["fault", "trials", "injected", "exact", "not exact", "errors (code×count)", "bytes resent/trial"];
  const lines: string[][] = [];
  for (const kind of [...kinds, "all"] as const) {
    const rs = kind === "all" ? rows : rows.filter((r) => r.fault === kind);
    if (!rs.length) continue;
    const codes = new Map<string, number>();
    for (const c of rs.flatMap((r) => r.errors)) codes.set(c, (codes.get(c) ?? 0) + 1);
    const extra = rs.reduce((s, r) => s + Math.max(0, r.extraBytes), 0) / rs.length;
    lines.push([
      kind,
      String(rs.length),
      String(rs.filter((r) => r.injected).length),
      String(rs.filter((r) => r.exact).length),
      String(rs.filter((r) => !r.exact).length),
      [...codes].map(([c, n]) => `${c}×${n}`).join(" ") || "-",
      `${(extra / 2 ** 20).toFixed(2)} MiB`,
    ]);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [fmt(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...lines.map(fmt)].join("\n");
}

try {
  bench = await setUpBench(base, 4);
  const rnd = seededRandom(seed);
  const end = Date.now() + minutes * 60_000;
  console.log(`soak: ${minutes} min, seed ${seed}, tree ${(bench.sourceBytes / 2 ** 20).toFixed(1)} MiB`);
  for (let i = 0; Date.now() < end && !stopping; i++) {
    const fault = kinds[i % kinds.length]!;
    const r = await runTrial(bench, fault, rnd, { bandwidthKBps: 2500, atMs: [150, 2200], cutMs: 2000 + Math.floor(rnd() * 10_000), runTimeoutMs: 180_000 });
    results.push(r);
    if (!r.exact) console.log(`trial ${i + 1} (${fault}) NOT EXACT: ${r.differences.join("; ")}`);
    if ((i + 1) % 30 === 0) console.log(`${i + 1} trials, ${Math.round((end - Date.now()) / 1000)} s left`);
  }
} finally {
  await tearDownBench(bench);
  rmSync(base, { recursive: true, force: true });
}
console.log(table(results));
process.exitCode = results.every((r) => r.exact) && results.length > 0 ? 0 : 1;

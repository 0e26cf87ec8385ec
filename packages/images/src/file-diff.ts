// Every change convert makes is recorded as a unified diff, made by diff(1)
// so the report reads exactly like what an administrator would run.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@hoist/runtime";

export async function unifiedDiff(path: string, before: string | null, after: string | null): Promise<string> {
  if (before === after) return "";
  const dir = mkdtempSync(join(tmpdir(), "hoist-diff-"));
  try {
    const a = join(dir, "a");
    const b = join(dir, "b");
    writeFileSync(a, before ?? "");
    writeFileSync(b, after ?? "");
    const r = await run("diff", ["-u", "--label", before === null ? "/dev/null" : `a${path}`, "--label", after === null ? "/dev/null" : `b${path}`, a, b], { okExitCodes: [0, 1] });
    return r.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

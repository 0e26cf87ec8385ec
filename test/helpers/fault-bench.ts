// The test hosts of a fault test file: set up (a receiver host, an agent host
// and a source tree of `mib` MiB in `base`) before the file's tests, torn down
// and `base` removed after them. Apart from fault-trials.ts, which the soak
// benchmark bundles without vitest.
import { rmSync } from "node:fs";
import { afterAll, beforeAll } from "vitest";
import { type Bench, setUpBench, tearDownBench } from "./fault-trials";

export function useFaultBench(base: string, mib: number, ready: (bench: Bench) => void): void {
  let bench: Bench | undefined;
  beforeAll(async () => {
    bench = await setUpBench(base, mib);
    ready(bench);
  });
  afterAll(async () => {
    await tearDownBench(bench);
    rmSync(base, { recursive: true, force: true });
  });
}

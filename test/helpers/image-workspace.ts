// The folder of a test that runs the image library's stages itself (prepare,
// convert, image): the job's folder, an image store and a disk backend, with
// the job's disks released and the folder removed after the file's tests.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDiskBackend } from "@hoist/images";
import type { TargetPlan } from "@hoist/protocol";
import { silentLogger } from "@hoist/runtime";
import { afterAll } from "vitest";

export function imageWorkspace(prefix: string, plan: () => TargetPlan | undefined) {
  const work = mkdtempSync(join(tmpdir(), prefix));
  const ws = { work, jobDir: join(work, "job"), store: join(work, "images"), backend: createDiskBackend() };
  afterAll(async () => {
    const p = plan();
    if (p) await ws.backend.release({ jobDir: ws.jobDir, plan: p }, silentLogger).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  });
  return ws;
}

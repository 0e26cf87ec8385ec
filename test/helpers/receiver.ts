// A real `hoist receiver` process on loopback (the disk backend unless a test
// asks for plain folders), as the data-plane and receiver tests run it:
// started, read until its ready line, and stopped (or killed) when a test says so.
import { type ChildProcess, spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import type { ReceiverReady, TargetPlan } from "@hoist/protocol";

const HOIST = join(resolve(import.meta.dirname, "../.."), "apps/hoist/bin/hoist");

/** One 4 GiB BIOS system disk with a root partition: the smallest plan a job can have. */
export const ONE_DISK_PLAN: TargetPlan = {
  bootMode: "bios",
  lvm: false,
  disks: [{ key: "system", sizeGiB: 4, table: "mbr", partitions: [{ key: "system-p1", role: "root", mountPoint: "/", fs: "ext4", sizeMiB: null }], sourcePath: "/", usedBytes: 1 }],
};

export interface ReceiverProcess {
  proc: ChildProcess;
  ready: ReceiverReady;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startReceiverProcess(stateDir: string, opts: { logLevel?: string; backend?: "disk" | "dir" } = {}): Promise<ReceiverProcess> {
  const args = ["receiver", "--state-dir", stateDir, "--control-port", "0", "--data-port", "0", "--listen", "127.0.0.1", "--target-backend", opts.backend ?? "disk", "--log-level", opts.logLevel ?? "warn"];
  const proc = spawn(HOIST, args, { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const line = await new Promise<string>((res, rej) => {
    const rl = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
    rl.once("line", res);
    proc.once("exit", (code) => rej(new Error(`receiver exited with ${code} before it was ready`)));
  });
  return {
    proc,
    ready: JSON.parse(line) as ReceiverReady,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}

// A real `hoist receiver` process with the disk backend on loopback, as the
// data-plane tests run it: started, read until its ready line, and stopped
// (or killed) when a test says so.
import { type ChildProcess, spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import type { ReceiverReady } from "@hoist/protocol";

const HOIST = join(resolve(import.meta.dirname, "../.."), "apps/hoist/bin/hoist");

export interface ReceiverProcess {
  proc: ChildProcess;
  ready: ReceiverReady;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startReceiverProcess(stateDir: string, opts: { logLevel?: string } = {}): Promise<ReceiverProcess> {
  const args = ["receiver", "--state-dir", stateDir, "--control-port", "0", "--data-port", "0", "--listen", "127.0.0.1", "--target-backend", "disk", "--log-level", opts.logLevel ?? "warn"];
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

// Runs the built `hoist server` and `hoist agent` as a user would, reading
// their output lines as they come.
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";

export const HOIST = join(import.meta.dirname, "../../apps/hoist/bin/hoist");

export interface Spawned {
  child: ChildProcess;
  lines: string[];
  stderr: string[];
  /** Resolves with the first stdout line matching `re`, or rejects after `ms`. */
  waitFor(re: RegExp, ms?: number): Promise<string>;
  exited: Promise<number | null>;
}

export function spawnHoist(args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  const child = spawn(HOIST, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  const lines: string[] = [];
  const stderr: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.re.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (line) => stderr.push(line));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    lines,
    stderr,
    exited,
    waitFor(re, ms = 60_000) {
      const seen = lines.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no line matching ${re} within ${ms} ms; stdout: ${lines.join("\n")}; stderr: ${stderr.join("\n")}`)), ms);
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
        exited.then(() => setTimeout(() => reject(new Error(`exited before ${re}; stderr: ${stderr.join("\n")}`)), 200));
      });
    },
  };
}

export interface StartedServer extends Spawned {
  url: string;
  apiKey: string | undefined;
}

export async function startHoistServer(args: string[], env: NodeJS.ProcessEnv = {}): Promise<StartedServer> {
  const s = spawnHoist(["server", "--port", "0", "--listen", "127.0.0.1", ...args], env);
  const ready = JSON.parse(await s.waitFor(/"event":"ready"/, 120_000)) as { url: string };
  const keyLine = s.lines.find((l) => l.startsWith("Admin API key (shown once): "));
  return Object.assign(s, { url: ready.url, apiKey: keyLine?.slice("Admin API key (shown once): ".length) });
}

export async function stop(s: Spawned | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!s || s.child.exitCode !== null || s.child.signalCode !== null) return;
  s.child.kill(signal);
  await s.exited;
}

/** Runs a short hoist command to completion. */
export function hoist(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(HOIST, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

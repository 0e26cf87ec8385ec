// Runs the built `hoist server` and `hoist agent` as a user would, reading
// their output lines as they come.
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { expect } from "vitest";

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

/** The server's API as a test calls it: method, path and JSON body; the status and parsed body it answered. */
export type ApiCall = <T>(method: string, path: string, body?: unknown) => Promise<ApiReply<T>>;

/**
 * Creates a one-use activation code through `api` and starts `hoist agent` with it to import
 * `root` into the server at `url` (`args` after the agent's own). Returns the agent as soon as it
 * runs, for the test to keep and stop whatever happens next, and the code it was given.
 */
export async function startAgent(api: ApiCall, url: string, root: string, stateDir: string, options: { args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<{ agent: Spawned; code: string }> {
  const code = await api<{ code: string }>("POST", "/v1/activation-codes", { uses: 1, validityDays: 1 });
  expect(code.status, JSON.stringify(code.body)).toBe(201);
  const agent = spawnHoist(["agent", "--server", url, "--source-root", root, "--activation-code", code.body.code, "--state-dir", stateDir, ...(options.args ?? [])], options.env);
  return { agent, code: code.body.code };
}

/** A `hoist server`, the admin key it printed, and a source imported into it by one `hoist agent`. */
export interface ServerWithSource {
  server: StartedServer;
  apiKey: string;
  agent: Spawned;
  sourceId: string;
}

/**
 * Starts `hoist server` with `args` and imports `root` into it with `hoist agent`, as the job
 * tests begin. When the import fails, the agent and the server are killed before the error is thrown.
 */
export async function startServerWithSource(args: string[], env: NodeJS.ProcessEnv, root: string, stateDir: string): Promise<ServerWithSource> {
  const server = await startHoistServer(args, env);
  const apiKey = server.apiKey as string;
  let agent: Spawned | undefined;
  try {
    const { call } = serverApi(
      () => server,
      () => apiKey,
    );
    ({ agent } = await startAgent(call, server.url, root, stateDir));
    return { server, apiKey, agent, sourceId: await importedSourceId(agent) };
  } catch (e) {
    await killAll(agent, server);
    throw e;
  }
}

/** Waits for `hoist agent`'s "Import Source Server [s-…] Successfully!" line and returns the source id in it. */
export async function importedSourceId(agent: Spawned, ms = 120_000): Promise<string> {
  const line = await agent.waitFor(/^Import Source Server \[s-[0-9a-z]+\] Successfully!$/, ms);
  return /\[(s-[0-9a-z]+)\]/.exec(line)?.[1] as string;
}

export async function stop(s: Spawned | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!s || s.child.exitCode !== null || s.child.signalCode !== null) return;
  s.child.kill(signal);
  await s.exited;
}

/** SIGKILLs each of `spawned` that still runs, one after the other: what a test's afterAll does with its server and agents. */
export async function killAll(...spawned: (Spawned | undefined)[]): Promise<void> {
  for (const s of spawned) await stop(s, "SIGKILL");
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

/** The fields of a replication job that the server tests read (the API returns more). */
export interface Job {
  JobId: string;
  TargetType: string;
  InstanceId: string | null;
  Status: string;
  BusinessStatus: string | null;
  RunCount: number;
  RegionId: string;
  ImageId: string | null;
  Images: { ImageName: string; RegionId: string; Run: number; Verification: string; BootSeconds: number | null }[];
  Transfer: { BytesDone: number; BytesTotal: number; Speed: number } | null;
  ErrorCode: string | null;
  ErrorMessage: string | null;
  ErrorFix: string | null;
  TransitionInstanceId: string | null;
  RateLimit: number;
}

export interface ApiReply<T> {
  status: number;
  body: T;
}

export interface WaitOptions {
  /** Named in the timeout message. */
  what?: string;
  /** Collects each Status/BusinessStatus the job passes through. */
  seen?: string[];
  /** A job InError ends the wait only through `done`, instead of failing it. */
  errorOk?: boolean;
}

/**
 * The server's API with its admin key, as the tests call it. `server` is asked at each call,
 * so a test that restarts its server keeps the same client.
 */
export function serverApi(server: () => StartedServer | undefined, key: () => string | undefined) {
  const call = async <T>(method: string, path: string, body?: unknown): Promise<ApiReply<T>> => {
    const res = await fetch(`${server()?.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key()}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
  };
  const job = async (id: string): Promise<Job> => {
    const r = await call<Job>("GET", `/v1/jobs/${id}`);
    if (r.status !== 200) throw new Error(`GET /v1/jobs/${id} answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  };
  /** Polls a job until `done` says so; a job InError fails the wait unless `errorOk`. */
  const waitJob = (id: string, done: (j: Job) => boolean, ms: number, opts: WaitOptions = {}): Promise<Job> =>
    until(
      `job ${id}${opts.what ? `: ${opts.what}` : ""}`,
      async () => {
        const j = await job(id).catch(() => undefined);
        if (!j) return undefined;
        const label = `${j.Status}/${j.BusinessStatus ?? "-"}`;
        if (opts.seen && opts.seen.at(-1) !== label) opts.seen.push(label);
        if (j.Status === "InError" && !opts.errorOk) {
          throw new Error(`job ${id} failed: ${j.ErrorCode}: ${j.ErrorMessage}\nserver log:\n${server()?.stderr.slice(-40).join("\n")}`);
        }
        return done(j) ? j : undefined;
      },
      ms,
    );
  return { call, job, waitJob };
}

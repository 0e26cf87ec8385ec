// Control plane API under a fleet: `hoist server` (the built bundle) imports N
// simulated agents over HTTP, then for a fixed time they heartbeat every H
// seconds (staggered) while M API clients poll GET /v1/sources and
// GET /v1/jobs every second. The same load then runs against a plain
// node:http server that answers every request with a constant JSON body (the
// floor: what the HTTP stack alone costs), and the report prints the ratios.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { randomBytes } from "node:crypto";
import type { SourceInventory } from "@hoist/protocol";
import { startPostgres } from "../test/helpers/postgres";
import { type Answer, keepAlive, SLOW_MS, send, type Summary, Tally } from "./lib/http-load";
import { type Cleanup, sleep, withCleanup } from "./lib/proc";
import { saveResults } from "./lib/report";

const repo = resolve(process.env["HOIST_REPO"] ?? ".");
const say = (line = ""): void => void process.stdout.write(`${line}\n`);
const AGENT_VERSION = "0.1.0-bench";
const REGISTER = "POST /v1/agents/register";
const HEARTBEAT = "POST /v1/agents/heartbeat";
const SOURCES = "GET /v1/sources";
const JOBS = "GET /v1/jobs";
const STEADY = [HEARTBEAT, SOURCES, JOBS];

interface Options {
  agents: number;
  durationS: number;
  heartbeatS: number;
  clients: number;
  registerConcurrency: number;
  postgres: boolean;
}

const USAGE = `usage: bash bench/api-agents.sh [N] [--duration S] [--heartbeat S] [--clients M] [--register-concurrency C] [--postgres]
  N                        simulated agents (default 1000)
  --duration S             seconds of heartbeats and polling per contender (default 60)
  --heartbeat S            seconds between one agent's heartbeats (default 10; the server is told the same)
  --clients M              API clients polling GET /v1/sources and GET /v1/jobs every second (default 5)
  --register-concurrency C registrations in flight at once (default 10)
  --postgres               also run hoist server on a throwaway PostgreSQL cluster (Debian's postgresql 15)`;

function parseArgs(argv: string[]): Options {
  const o: Options = { agents: 1000, durationS: 60, heartbeatS: 10, clients: 5, registerConcurrency: 10, postgres: false };
  const int = (flag: string, v: string | undefined, min: number, max: number): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v ?? "") || n < min || n > max) throw new Error(`${flag} must be a whole number from ${min} to ${max} (got ${v ?? "nothing"})`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "--duration") o.durationS = int(a, argv[++i], 5, 3600);
    else if (a === "--heartbeat") o.heartbeatS = int(a, argv[++i], 1, 300);
    else if (a === "--clients") o.clients = int(a, argv[++i], 0, 100);
    else if (a === "--register-concurrency") o.registerConcurrency = int(a, argv[++i], 1, 200);
    else if (a === "--postgres") o.postgres = true;
    else if (a === "-h" || a === "--help") {
      say(USAGE);
      process.exit(0);
    } else if (/^\d+$/.test(a)) o.agents = int("N", a, 1, 20_000);
    else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  return o;
}

/** A small but realistic inventory, like the one `hoist agent` sends: one disk, /boot and /, one kernel. */
function inventory(i: number): SourceInventory {
  const uefi = i % 5 === 0;
  const gib = 2 ** 30;
  const disk = (40 + (i % 4) * 20) * gib;
  const os = i % 3 === 0 ? { id: "rocky", versionId: "9.3", prettyName: "Rocky Linux 9.3 (Blue Onyx)", idLike: ["rhel", "centos", "fedora"] } : { id: "debian", versionId: "12", prettyName: "Debian GNU/Linux 12 (bookworm)", idLike: [] };
  const kernel = os.id === "debian" ? "6.1.0-18-amd64" : "5.14.0-362.8.1.el9_3.x86_64";
  return {
    sourceRoot: "/",
    collectedAt: new Date().toISOString(),
    hostname: `web-${i}`,
    arch: "x86_64",
    os,
    bootMode: uefi ? "uefi" : "bios",
    canBoot: { bios: !uefi, uefi },
    bootloader: { kind: "grub2", version: "2.06" },
    kernels: [{ version: kernel, image: `/boot/vmlinuz-${kernel}`, initramfs: `/boot/initrd.img-${kernel}`, virtio: { virtio_blk: true, virtio_net: true, virtio_scsi: true } }],
    network: os.id === "debian" ? "ifupdown" : "NetworkManager",
    disks: [
      {
        name: "vda",
        path: "/dev/vda",
        sizeBytes: disk,
        table: uefi ? "gpt" : "mbr",
        partitions: [
          { name: "vda1", path: "/dev/vda1", sizeBytes: gib, fs: uefi ? "vfat" : "ext4", uuid: `0000000${i % 10}-0000-4000-8000-00000000000${i % 10}`, mountPoint: uefi ? "/boot/efi" : "/boot" },
          { name: "vda2", path: "/dev/vda2", sizeBytes: disk - gib, fs: "ext4", uuid: `1111111${i % 10}-1111-4111-8111-11111111111${i % 10}`, mountPoint: "/" },
        ],
      },
    ],
    mounts: [
      { mountPoint: "/", device: "/dev/vda2", fs: "ext4", sizeBytes: disk - gib, usedBytes: (3 + (i % 7)) * gib },
      { mountPoint: uefi ? "/boot/efi" : "/boot", device: "/dev/vda1", fs: uefi ? "vfat" : "ext4", sizeBytes: gib, usedBytes: 120 * 2 ** 20 },
    ],
    systemDiskBytes: disk,
    usedBytes: (3 + (i % 7)) * gib + 120 * 2 ** 20,
    paths: [],
    lvm: false,
    selinux: os.id === "debian" ? "absent" : "enforcing",
  };
}

// --- processes: the servers under test, their memory and CPU from /proc

function procStatusKiB(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** utime + stime of one process, in seconds (USER_HZ is 100 on Linux). */
function cpuSeconds(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

function descendants(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length && i < 10_000; i++) {
    try {
      for (const tid of readdirSync(`/proc/${all[i]}/task`)) {
        const kids = readFileSync(`/proc/${all[i]}/task/${tid}/children`, "utf8").trim();
        if (kids) all.push(...kids.split(/\s+/).map(Number));
      }
    } catch {
      // gone between listing and reading
    }
  }
  return all;
}

function pssKiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The postmaster listening on `port` (its command line carries `-p PORT`). */
function postmasterPid(port: number): number | null {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (argv[0]?.endsWith("/postgres") && argv.includes("-p") && argv[argv.indexOf("-p") + 1] === String(port)) return Number(entry);
    } catch {
      // gone
    }
  }
  return null;
}

interface Started {
  child: ChildProcess;
  url: URL;
  pid: number;
  logFile: string;
}

async function startServer(cmd: string[], env: NodeJS.ProcessEnv, logFile: string, cleanup: Cleanup): Promise<Started> {
  const log = openSync(logFile, "a");
  const child = spawn(cmd[0] as string, cmd.slice(1), { cwd: repo, env, stdio: ["ignore", "pipe", log] });
  closeSync(log);
  // Also on Ctrl-C, which skips the callers' own finally blocks.
  cleanup.add(`stop ${cmd.slice(1, 3).join(" ")}`, () => stopServer(child));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const ready = await new Promise<{ url: string; pid: number }>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd.join(" ")} was not ready within 120 s; see ${logFile}`)), 120_000);
    lines.on("line", (line) => {
      if (!line.includes('"event":"ready"')) return;
      clearTimeout(timer);
      resolveReady(JSON.parse(line) as { url: string; pid: number });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd.join(" ")} exited with ${code} before it was ready:\n${readFileSync(logFile, "utf8").split("\n").slice(-15).join("\n")}`));
    });
  });
  return { child, url: new URL(ready.url), pid: ready.pid, logFile };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const killed = await Promise.race([exited.then(() => false), sleep(15_000).then(() => true)]);
  if (killed) {
    child.kill("SIGKILL");
    await exited;
  }
}

// --- one contender under the load

interface Contender {
  label: string;
  kind: "hoist" | "bare";
  databaseUrl?: string;
  /** The PostgreSQL cluster's port, to measure its processes too. */
  pgPort?: number;
}

interface RunResult {
  label: string;
  register: Summary & { seconds: number };
  steady: Record<string, Summary>;
  steadySeconds: number;
  heartbeatsExpected: number;
  lateHeartbeats: number;
  lateClientTicks: number;
  serverPeakRssKiB: number;
  serverCpuSeconds: number;
  generatorCpuSeconds: number;
  /** PostgreSQL contender only: highest sum of the cluster's PSS, and its CPU in the steady phase. */
  postgresPeakPssKiB?: number;
  postgresCpuSeconds?: number;
  /** Bursts of answers slower than SLOW_MS in the steady phase: when (s into the phase), how many, the worst. */
  stalls: { atS: number; answers: number; worstMs: number }[];
  /** hoist only: sources the server shows Available at the end (all of them, if heartbeats kept up). */
  availableAtEnd?: number;
}

async function runContender(
  c: Contender,
  o: Options,
  work: string,
  apiKey: string,
  replies: Record<string, Answer>,
  cleanup: Cleanup,
): Promise<{ result: RunResult; replies: Record<string, Answer> }> {
  const dir = mkdtempSync(join(work, `${c.kind}-`));
  const logFile = join(dir, "server.log");
  let server: Started;
  if (c.kind === "hoist") {
    const env: NodeJS.ProcessEnv = { ...process.env, HOIST_API_KEY: apiKey };
    delete env["DATABASE_URL"];
    if (c.databaseUrl) env["DATABASE_URL"] = c.databaseUrl;

    const args = ["server", "--port", "0", "--listen", "127.0.0.1", "--data-dir", join(dir, "data"), "--heartbeat-seconds", String(o.heartbeatS), "--log-level", "warn"];
    // e.g. "--cpu-prof --cpu-prof-dir=/var/tmp/prof" to see where the server spends its time.
    const nodeArgs = (process.env["HOIST_BENCH_SERVER_NODE_ARGS"] ?? "").split(" ").filter(Boolean);
    server = await startServer([process.execPath, ...nodeArgs, join(repo, "apps/hoist/dist/hoist.mjs"), ...args], env, logFile, cleanup);
  } else {
    const file = join(dir, "replies.json");
    writeFileSync(file, JSON.stringify(Object.fromEntries(Object.entries(replies).map(([k, v]) => [k, { status: v.status, body: v.body }]))));
    server = await startServer([process.execPath, join(repo, "bench/baseline/bare-http.mjs"), file], process.env, logFile, cleanup);
  }
  try {
    return await loadOne(c, o, server, apiKey);
  } finally {
    await stopServer(server.child);
  }
}

async function loadOne(c: Contender, o: Options, server: Started, apiKey: string): Promise<{ result: RunResult; replies: Record<string, Answer> }> {
  const base = server.url;
  const tallies = new Map<string, Tally>([REGISTER, ...STEADY, "POST /v1/activation-codes"].map((k) => [k, new Tally()]));
  const tally = (k: string): Tally => tallies.get(k) as Tally;
  say(`${c.label}: ${base.href} (pid ${server.pid})`);

  // Activation codes allow at most 1000 uses each.
  const codes: string[] = [];
  for (let left = o.agents; left > 0; left -= 1000) {
    const made = await tally("POST /v1/activation-codes").time(() => send(base, "POST", "/v1/activation-codes", { body: { uses: Math.min(1000, left), validityDays: 1, description: "api-agents bench" }, token: apiKey, pool: keepAlive }));
    if (!made) throw new Error(`${c.label}: could not create an activation code: ${tally("POST /v1/activation-codes").last?.body ?? "no answer"}`);
    codes.push((JSON.parse(made.body) as { code: string }).code);
  }

  const tokens: (string | null)[] = Array(o.agents).fill(null);
  let nextAgent = 0;
  const regStart = process.hrtime.bigint();
  const registerWorker = async (): Promise<void> => {
    for (let i = nextAgent++; i < o.agents; i = nextAgent++) {
      const body = { activationCode: codes[Math.floor(i / 1000)], name: `bench-${i}`, agentVersion: AGENT_VERSION, inventory: inventory(i) };
      const a = await tally(REGISTER).time(() => send(base, "POST", "/v1/agents/register", { body, pool: false }));
      tokens[i] = a ? (JSON.parse(a.body) as { agentToken: string }).agentToken : null;
    }
  };
  await Promise.all(Array.from({ length: o.registerConcurrency }, registerWorker));
  const regSeconds = Number(process.hrtime.bigint() - regStart) / 1e9;
  const register = { ...tally(REGISTER).summary(regSeconds), seconds: regSeconds };
  say(`  registered ${tokens.filter(Boolean).length}/${o.agents} agents in ${regSeconds.toFixed(1)} s`);

  const pgPid = c.pgPort ? postmasterPid(c.pgPort) : null;
  const pgCpu = (): number => (pgPid ? descendants(pgPid).reduce((s, p) => s + cpuSeconds(p), 0) : 0);
  let pgPeakPss = 0;
  const samplePg = (): void => {
    if (pgPid) pgPeakPss = Math.max(pgPeakPss, descendants(pgPid).reduce((s, p) => s + pssKiB(p), 0));
  };
  samplePg();
  const pgSampler = setInterval(samplePg, 1000);

  const hbMs = o.heartbeatS * 1000;
  const start = Date.now() + 500;
  const end = start + o.durationS * 1000;
  let lateHeartbeats = 0;
  let lateClientTicks = 0;
  const cpuBefore = cpuSeconds(server.pid);
  const pgCpuBefore = pgCpu();
  const genBefore = process.cpuUsage();

  const agentLoop = async (token: string, i: number): Promise<void> => {
    let next = start + (i / o.agents) * hbMs;
    for (;;) {
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      if (Date.now() >= end) return;
      await tally(HEARTBEAT).time(() => send(base, "POST", "/v1/agents/heartbeat", { body: { agentVersion: AGENT_VERSION }, token, pool: false }));
      next += hbMs;
      if (next < Date.now()) {
        lateHeartbeats++;
        next = Date.now();
      }
    }
  };
  const clientLoop = async (j: number): Promise<void> => {
    let next = start + (j / Math.max(1, o.clients)) * 1000;
    for (;;) {
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      if (Date.now() >= end) return;
      await Promise.all([
        tally(SOURCES).time(() => send(base, "GET", "/v1/sources", { token: apiKey, pool: keepAlive })),
        tally(JOBS).time(() => send(base, "GET", "/v1/jobs", { token: apiKey, pool: keepAlive })),
      ]);
      next += 1000;
      if (next < Date.now()) {
        lateClientTicks++;
        next = Date.now();
      }
    }
  };
  await Promise.all([...tokens.flatMap((t, i) => (t ? [agentLoop(t, i)] : [])), ...Array.from({ length: o.clients }, (_, j) => clientLoop(j))]);
  const steadySeconds = (Date.now() - start) / 1000;
  const gen = process.cpuUsage(genBefore);
  const serverCpu = cpuSeconds(server.pid) - cpuBefore;
  const pgCpuSpent = pgCpu() - pgCpuBefore;
  clearInterval(pgSampler);
  samplePg();

  let availableAtEnd: number | undefined;
  if (c.kind === "hoist") {
    const a = await send(base, "GET", "/v1/sources?state=Available&limit=1", { token: apiKey, pool: keepAlive });
    availableAtEnd = a.status === 200 ? (JSON.parse(a.body) as { total: number }).total : -1;
  }
  const result: RunResult = {
    label: c.label,
    register,
    steady: Object.fromEntries(STEADY.map((k) => [k, tally(k).summary(o.durationS)])),
    steadySeconds,
    stalls: stalls(STEADY.flatMap((k) => tally(k).slow), start),
    heartbeatsExpected: tokens.filter(Boolean).length * Math.floor(o.durationS / o.heartbeatS),
    lateHeartbeats,
    lateClientTicks,
    serverPeakRssKiB: procStatusKiB(server.pid, "VmHWM"),
    serverCpuSeconds: serverCpu,
    generatorCpuSeconds: (gen.user + gen.system) / 1e6,
    ...(pgPid ? { postgresPeakPssKiB: pgPeakPss, postgresCpuSeconds: pgCpuSpent } : {}),
    ...(availableAtEnd === undefined ? {} : { availableAtEnd }),
  };
  const seen: Record<string, Answer> = {};
  for (const [k, t] of tallies) {
    const a = t.lastOk ?? t.last;
    if (a) seen[k] = a;
  }
  return { result, replies: seen };
}

/** Slow answers asked within 2 s of each other are one stall. */
function stalls(slow: { at: number; ms: number }[], start: number): RunResult["stalls"] {
  const out: RunResult["stalls"] = [];
  let lastAt = Number.NEGATIVE_INFINITY;
  for (const a of [...slow].sort((x, y) => x.at - y.at)) {
    const cur = out.at(-1);
    if (cur && a.at - lastAt < 2000) {
      cur.answers++;
      cur.worstMs = Math.max(cur.worstMs, a.ms);
    } else out.push({ atS: (a.at - start) / 1000, answers: 1, worstMs: a.ms });
    lastAt = a.at;
  }
  return out;
}

// --- report

/** Text columns (the first `left`, and "errors") align left, numbers right. */
function table(header: string[], rows: string[][], left = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < left || header[i] === "errors" ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : "-");
const times = (a: number, b: number): string => (b > 0 && Number.isFinite(a) && Number.isFinite(b) ? `${(a / b).toFixed(1)}x` : "-");
const errorsText = (s: Summary): string => (s.errors ? `${s.errors} (${Object.entries(s.errorCodes).map(([k, v]) => `${k}: ${v}`).join(", ")})` : "0");

function report(o: Options, results: RunResult[]): void {
  const bare = results.find((r) => r.label === "bare-http") as RunResult;
  const hoists = results.filter((r) => r !== bare);
  say();
  say(`Registration: ${o.agents} agents, ${o.registerConcurrency} at a time, each over a fresh connection`);
  say(table(["contender", "seconds", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"], results.map((r) => [r.label, r.register.seconds.toFixed(1), r.register.perSecond.toFixed(0), ms(r.register.p50), ms(r.register.p95), ms(r.register.p99), errorsText(r.register)])));
  say();
  say(`Steady phase: ${o.durationS} s; heartbeats every ${o.heartbeatS} s per agent (fresh connection each); ${o.clients} API clients polling every 1 s (keep-alive)`);
  const rows: string[][] = [];
  for (const k of STEADY) {
    for (const r of results) {
      const s = r.steady[k] as Summary;
      rows.push([rows.length % results.length === 0 ? k : "", r.label, String(s.requests), s.perSecond.toFixed(1), ms(s.p50), ms(s.p95), ms(s.p99), ms(s.max), r === bare ? "1.0x" : times(s.p99, (bare.steady[k] as Summary).p99), errorsText(s)]);
    }
  }
  say(table(["endpoint", "contender", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "p99/bare", "errors"], rows, 2));
  say();
  const total = (r: RunResult): number => STEADY.reduce((n, k) => n + (r.steady[k] as Summary).requests, 0);
  say(
    table(
      ["contender", "peak RSS (VmHWM)", "server CPU s", "CPU ms/request", "late heartbeats", "late polls", "load generator CPU s"],
      results.map((r) => [
        r.label,
        `${(r.serverPeakRssKiB / 1024).toFixed(0)} MiB${r.postgresPeakPssKiB ? ` + PostgreSQL ${(r.postgresPeakPssKiB / 1024).toFixed(0)} MiB PSS` : ""}`,
        `${r.serverCpuSeconds.toFixed(1)}${r.postgresCpuSeconds === undefined ? "" : ` + PostgreSQL ${r.postgresCpuSeconds.toFixed(1)}`}`,
        (((r.serverCpuSeconds + (r.postgresCpuSeconds ?? 0)) * 1000) / Math.max(1, total(r))).toFixed(2),
        `${r.lateHeartbeats}`,
        `${r.lateClientTicks}`,
        r.generatorCpuSeconds.toFixed(1),
      ]),
    ),
  );
  for (const r of hoists) {
    say(`${r.label}: ${r.steady[HEARTBEAT]?.requests ?? 0} heartbeats of ${r.heartbeatsExpected} scheduled; ${r.availableAtEnd ?? "?"} of ${o.agents} sources Available at the end`);
  }
  for (const r of results) {
    const list = r.stalls.map((x) => `at ${x.atS.toFixed(0)} s: ${x.answers} answer(s), worst ${(x.worstMs / 1000).toFixed(1)} s`);
    say(`${r.label}: ${list.length ? `stalls (answers over ${SLOW_MS / 1000} s) ${list.join("; ")}` : `no answer took over ${SLOW_MS / 1000} s`}`);
  }
  say();
  for (const r of hoists) {
    for (const k of STEADY) {
      const s = r.steady[k] as Summary;
      const note = s.errors === s.requests && s.requests > 0 ? `  (every answer was an error: ${Object.keys(s.errorCodes).join(", ")})` : "";
      say(`${r.label} p99 / bare-http p99 = ${times(s.p99, (bare.steady[k] as Summary).p99)}  ${k}${note}`);
    }
    say(`${r.label} p99 / bare-http p99 = ${times(r.register.p99, bare.register.p99)}  ${REGISTER}`);
  }
}

function machine(): string {
  const cpu = cpus();
  return `${cpu.length} cores (${cpu[0]?.model.trim() ?? "unknown CPU"}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}`;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  say(`api-agents: ${o.agents} agents, heartbeat every ${o.heartbeatS} s, ${o.clients} API clients, ${o.durationS} s per contender${o.postgres ? ", PGlite and PostgreSQL" : ""}`);
  say(`machine: ${machine()}`);
  await withCleanup(async (cleanup) => {
    const work = mkdtempSync(join(process.env["HOIST_BENCH_TMP"] ?? tmpdir(), "hoist-bench-api-"));
    cleanup.add("remove the work folder", () => rmSync(work, { recursive: true, force: true }));
    const apiKey = `hk_bench_${randomBytes(24).toString("base64url")}`;
    const contenders: Contender[] = [{ label: "hoist (PGlite)", kind: "hoist" }];
    if (o.postgres) {
      const pg = await startPostgres();
      cleanup.add("stop PostgreSQL", () => pg.stop());
      contenders.push({ label: "hoist (PostgreSQL)", kind: "hoist", databaseUrl: pg.url, pgPort: pg.port });
    }
    const results: RunResult[] = [];
    let replies: Record<string, Answer> = {};
    for (const c of contenders) {
      const run = await runContender(c, o, work, apiKey, replies, cleanup);
      results.push(run.result);
      // The peer replays the first hoist contender's answers.
      if (Object.keys(replies).length === 0) replies = run.replies;
      await sleep(2000);
    }
    const bare = await runContender({ label: "bare-http", kind: "bare" }, o, work, apiKey, replies, cleanup);
    results.push(bare.result);
    report(o, results);
    const file = saveResults(repo, "api-agents", { options: o, machine: machine(), results });
    say(`\nresults: ${file}`);
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`api-agents failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});

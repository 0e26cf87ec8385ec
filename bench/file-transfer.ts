// File transfer benchmark: `hoist migrate --copy-only` (the whole command,
// receiver start and disk preparation included) against a plain rsync daemon
// on loopback and against tar|tar, each into a fresh ext4 of the same size,
// all in one run so the ratios compare like with like.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { makeHoistPlace, migrateArgs, migrateLogLines, parseJsonLines, releaseHoist, runHoist } from "./lib/hoist";
import { Cleanup, capture, type MemoryPeak, sleep, timed, withCleanup } from "./lib/proc";
import { machine, mib, ratio, saveResults, secs, table } from "./lib/report";
import { makeScratchFs } from "./lib/scratch";
import { hoistPhases, type Phase } from "./lib/timeline";
import { ensureTree, TREE_1M, TREE_100K } from "./lib/tree";
import { freePort } from "../test/helpers/ports";

// The entry is bundled into a temp folder before it runs, so the repository comes from the wrapper script.
const repo = resolve(process.env["HOIST_REPO"] ?? ".");
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const TARGET_BYTES = 20 * 2 ** 30;

interface Options {
  tree: "100k" | "1m";
  streams: number;
  rounds: number;
}

function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { tree: "100k", streams: 4, rounds: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--1m") o.tree = "1m";
    else if (a === "--streams") o.streams = Number(argv[++i]);
    else if (a === "--rounds") o.rounds = Number(argv[++i]);
    else if (a === "-h" || a === "--help") {
      say("usage: bash bench/file-transfer.sh [--1m] [--streams N] [--rounds N]\n  --1m         use the 1M-file tree instead of the 100k-file one\n  --streams N  hoist's parallel streams (default 4, hoist's own default)\n  --rounds N   repeat the whole comparison N times, interleaved, and report medians (default 1)");
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.streams) || o.streams < 1 || o.streams > 16) throw new Error("--streams must be 1-16");
  if (!Number.isInteger(o.rounds) || o.rounds < 1 || o.rounds > 20) throw new Error("--rounds must be 1-20");
  return o;
}

/** Reads the whole tree once so every contender starts from a warm page cache. */
async function warm(src: string): Promise<void> {
  const child = spawn("tar", ["-C", src, "-cf", "-", "."], { stdio: ["ignore", "pipe", "ignore"] });
  child.stdout.resume();
  await new Promise<void>((r) => child.once("close", () => r()));
}

async function portOpen(port: number): Promise<boolean> {
  try {
    await capture("bash", ["-c", 'exec 3<>"/dev/tcp/127.0.0.1/$1"', "_", String(port)]);
    return true;
  } catch {
    return false;
  }
}

/** A plain rsync daemon on loopback writing into `dir`; stopped by the cleanup stack. */
async function startRsyncDaemon(work: string, dir: string, cleanup: Cleanup): Promise<number> {
  const conf = join(work, "rsyncd.conf");
  writeFileSync(conf, `uid = 0\ngid = 0\nuse chroot = yes\nnumeric ids = yes\nlog file = ${join(work, "rsyncd.log")}\n[target]\n  path = ${dir}\n  read only = false\n`);
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const daemon = spawn("rsync", ["--daemon", "--no-detach", "--address", "127.0.0.1", "--port", String(port), "--config", conf], { stdio: "ignore" });
    const exited = new Promise<void>((r) => daemon.once("exit", () => r()));
    cleanup.add("stop the rsync daemon", async () => {
      if (daemon.exitCode === null && daemon.signalCode === null) {
        daemon.kill("SIGTERM");
        await exited;
      }
    });
    for (let i = 0; i < 50; i++) {
      if (daemon.exitCode !== null) break;
      if (await portOpen(port)) return port;
      await sleep(100);
    }
  }
  throw new Error("the rsync daemon did not start");
}

/** tar | tar with the two processes piped directly, no shell in between. */
async function tarPipe(src: string, dst: string): Promise<number> {
  const started = process.hrtime.bigint();
  const opts = ["--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner"];
  const reader = spawn("tar", ["-C", src, ...opts, "-cf", "-", "."], { stdio: ["ignore", "pipe", "inherit"] });
  const writer = spawn("tar", ["-C", dst, ...opts, "-xpf", "-"], { stdio: ["pipe", "ignore", "inherit"] });
  reader.stdout.pipe(writer.stdin);
  const codes = await Promise.all([reader, writer].map((c) => new Promise<number>((r) => c.once("close", (code) => r(code ?? 1)))));
  if (codes.some((c) => c !== 0)) throw new Error(`tar | tar failed (${codes.join(", ")})`);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function countEntries(dir: string): Promise<string> {
  const files = (await capture("find", [dir, "-xdev", "-type", "f"])).split("\n").filter(Boolean).length;
  const bytes = Number((await capture("du", ["-sxb", dir])).split(/\s/)[0]);
  return `${files} files, ${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const src = ensureTree(opts.tree === "1m" ? TREE_1M : TREE_100K, say);
  const shape = await countEntries(src);
  say(`Source tree ${src}: ${shape}`);
  say(`Machine: ${machine("not used")}`);
  const work = mkdtempSync(join(process.env["HOIST_BENCH_TMP"] ?? "/var/tmp", "hoist-bench-ft-"));
  const results: Record<string, number[]> = { tar: [], rsync: [], rsyncNoop: [], hoist: [], hoistNoop: [] };
  let phases: Phase[] = [];
  let noopPhases: Phase[] = [];
  let memory: MemoryPeak = { processKiB: 0, treeKiB: 0, treeByProgram: {} };
  const note = (key: string, seconds: number): string => {
    results[key]?.push(seconds);
    return secs(seconds);
  };
  await withCleanup(async (outer) => {
    outer.add(`remove ${work}`, () => rmSync(work, { recursive: true, force: true }));
    say("Warming the page cache with one full read of the tree.");
    await warm(src);
    for (let round = 1; round <= opts.rounds; round++) {
      if (opts.rounds > 1) say(`Round ${round}/${opts.rounds}`);
      const dir = join(work, `round-${round}`);
      // Each round's targets go before the next round starts; the outer stack covers Ctrl-C.
      const cleanup = new Cleanup();
      outer.add(`round ${round}`, () => cleanup.run());
      try {
        say("tar | tar into a fresh ext4 ...");
        const tarFs = await makeScratchFs(join(dir, "tar"), TARGET_BYTES, cleanup);
        await capture("sync", []);
        say(`  ${note("tar", await tarPipe(src, tarFs.mountPoint))} s`);

        say("rsync -aHAXS --numeric-ids --delete through an rsync daemon on loopback (one stream) ...");
        const rsyncFs = await makeScratchFs(join(dir, "rsync"), TARGET_BYTES, cleanup);
        const port = await startRsyncDaemon(join(dir, "rsync"), rsyncFs.mountPoint, cleanup);
        const rsyncArgs = ["-aHAXS", "--numeric-ids", "--delete", `${src}/`, `rsync://127.0.0.1:${port}/target/`];
        await capture("sync", []);
        const copy = note("rsync", (await timed("rsync", rsyncArgs, { logFile: join(dir, "rsync.log") })).seconds);
        say(`  ${copy} s; no-op re-sync ...`);
        say(`  ${note("rsyncNoop", (await timed("rsync", rsyncArgs, { logFile: join(dir, "rsync.log") })).seconds)} s`);

        say(`hoist migrate --copy-only --compression 0 --streams ${opts.streams} (whole command: receiver, target disk, copy) ...`);
        const place = makeHoistPlace(join(dir, "hoist"), `bench-ft-${process.pid}-${round}`);
        cleanup.add("release hoist's intermediate instance", () => releaseHoist(place));
        const args = migrateArgs(place, src, ["--copy-only", "--streams", String(opts.streams)]);
        await capture("sync", []);
        const first = await runHoist(repo, place, args, join(dir, "hoist.log"));
        if (round === 1) {
          memory = first.memory;
          // Read now: the working folder goes with the cleanup.
          phases = hoistPhases(migrateLogLines(place), parseJsonLines(first.receiverLog), first.startedAt, first.startedAt + first.seconds * 1000);
        }
        if (first.memory.processKiB > memory.processKiB) memory = { ...memory, processKiB: first.memory.processKiB };
        say(`  ${note("hoist", first.seconds)} s; no-op re-sync (run again) ...`);
        const again = await runHoist(repo, place, args, join(dir, "hoist.log"));
        say(`  ${note("hoistNoop", again.seconds)} s`);
        if (round === 1) noopPhases = hoistPhases(migrateLogLines(place), parseJsonLines(again.receiverLog), again.startedAt, again.startedAt + again.seconds * 1000);
        if (again.memory.processKiB > memory.processKiB) memory = { ...memory, processKiB: again.memory.processKiB };
      } finally {
        await cleanup.run();
      }
    }
  });

  const r = (k: string): number => median(results[k] ?? []);
  say("");
  say(`File transfer, ${shape}, warm page cache, each into a fresh ext4 on a 20 GiB sparse loop file${opts.rounds > 1 ? `; medians of ${opts.rounds} interleaved rounds` : ""}`);
  say(
    table(
      ["contender", "copy s", "no-op s", "hoist/this copy", "hoist/this no-op"],
      [
        ["tar | tar (practical limit)", secs(r("tar")), "-", ratio(r("hoist"), r("tar")), "-"],
        ["rsync daemon, 1 stream", secs(r("rsync")), secs(r("rsyncNoop")), ratio(r("hoist"), r("rsync")), ratio(r("hoistNoop"), r("rsyncNoop"))],
        [`hoist migrate --copy-only, ${opts.streams} streams`, secs(r("hoist")), secs(r("hoistNoop")), "1.00x", "1.00x"],
      ],
    ),
  );
  say(`Aims: hoist/rsync <= 0.50x (now ${ratio(r("hoist"), r("rsync"))}), hoist/tar <= 1.30x (now ${ratio(r("hoist"), r("tar"))}).`);
  const parts = Object.entries(memory.treeByProgram)
    .sort((a, b) => b[1].kib - a[1].kib)
    .map(([name, e]) => `${e.processes} x ${name} ${mib(e.kib)}`)
    .join(", ");
  say(`Agent peak memory: the hoist migrate process ${mib(memory.processKiB)} (VmHWM).`);
  say(`  With its children (receiver excluded), first copy, highest sampled RSS sum ${mib(memory.treeKiB)}: ${parts}.`);
  say("");
  say("Where hoist spends its time in round 1 (migrate log + receiver log):");
  const noop = (name: string): string => {
    const p = noopPhases.find((q) => q.name === name);
    return p ? secs(p.seconds) : "-";
  };
  say(table(["step", "copy s", "no-op s"], phases.map((p) => [p.name, secs(p.seconds), noop(p.name)])));
  const file = saveResults(repo, "file-transfer", { tree: opts.tree, shape, streams: opts.streams, rounds: opts.rounds, seconds: results, memoryKiB: memory, hoistPhases: phases, hoistNoopPhases: noopPhases, machine: machine("not used") });
  say(`Numbers saved in ${file}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});

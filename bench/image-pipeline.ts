// Image pipeline benchmark on the Debian fixture, in one run:
// (a) the whole `hoist migrate --no-verify` against the same result made by
//     hand with plain tools (baseline/image-by-hand.sh);
// (b) `hoist image verify` against a plain QEMU boot of the same image to
//     multi-user (baseline/boot-plain.sh), same memory, CPUs and accelerator.
// Then where hoist's time goes, from the migrate log and the receiver log.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { kvmUsable } from "@hoist/images";
import { debianFixture } from "../test/helpers/debian-fixture";
import { type HoistRun, makeHoistPlace, migrateArgs, migrateLogLines, parseJsonLines, releaseHoist, runHoist } from "./lib/hoist";
import { capture, timed, withCleanup } from "./lib/proc";
import { machine, ratio, saveResults, secs, table } from "./lib/report";
import { receiversOf } from "./lib/scratch";
import { type Phase, baselinePhases, hoistPhases } from "./lib/timeline";

// The entry is bundled into a temp folder before it runs, so the repository comes from the wrapper script.
const repo = resolve(process.env["HOIST_REPO"] ?? ".");
const say = (line: string): void => void process.stdout.write(`${line}\n`);

interface Options {
  bootBaseline: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { bootBaseline: true };
  for (const a of argv) {
    if (a === "--no-baseline-boot") o.bootBaseline = false;
    else if (a === "-h" || a === "--help") {
      say("usage: bash bench/image-pipeline.sh [--no-baseline-boot]\n  --no-baseline-boot  skip the boot that proves the hand-made image works (saves one boot)");
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

async function warm(src: string): Promise<void> {
  const child = spawn("tar", ["-C", src, "-cf", "-", "."], { stdio: ["ignore", "pipe", "ignore"] });
  child.stdout.resume();
  await new Promise<void>((r) => child.once("close", () => r()));
}

function printPhases(title: string, phases: Phase[], total: number): void {
  say(title);
  say(
    table(
      ["step", "s", "share"],
      phases.map((p) => [p.name, secs(p.seconds), `${((100 * p.seconds) / total).toFixed(0)}%`]),
    ),
  );
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  say("Debian fixture (built with debootstrap when missing; that takes minutes once) ...");
  const src = await debianFixture();
  const accel = kvmUsable() ? "KVM" : "TCG";
  say(`Source ${src}: ${(await capture("du", ["-sxh", src])).split(/\s/)[0]}`);
  say(`Machine: ${machine(accel)}`);
  const work = mkdtempSync(join(process.env["HOIST_BENCH_TMP"] ?? "/var/tmp", "hoist-bench-ip-"));
  const s: Record<string, number> = {};
  let hoistRun: HoistRun | null = null;
  let baselineSteps: Phase[] = [];
  let leakedReceivers: number[] = [];
  let phases: Phase[] = [];
  const imageName = `bench-ip-${process.pid}`;
  const place = makeHoistPlace(join(work, "hoist"), imageName);
  await withCleanup(async (cleanup) => {
    cleanup.add(`remove ${work}`, () => rmSync(work, { recursive: true, force: true }));
    cleanup.add("release hoist's intermediate instance", () => releaseHoist(place));
    say("Warming the page cache with one full read of the fixture.");
    await warm(src);

    say("(a) By hand: truncate, sfdisk, losetup, mkfs.ext4, mount, rsync, fstab, GRUB, umount, qemu-img convert ...");
    const byHand = join(work, "by-hand");
    const log = join(work, "by-hand.log");
    await capture("sync", []);
    const started = Date.now();
    s["byHand"] = (await timed("bash", [join(repo, "bench/baseline/image-by-hand.sh"), src, byHand], { logFile: log })).seconds;
    baselineSteps = baselinePhases(readFileSync(log, "utf8"), started, started + s["byHand"] * 1000);
    say(`  ${secs(s["byHand"])} s`);

    say("(a) hoist migrate --no-verify (whole command) ...");
    await capture("sync", []);
    hoistRun = await runHoist(repo, place, migrateArgs(place, src, ["--no-verify"]), join(work, "hoist.log"));
    s["hoist"] = hoistRun.seconds;
    say(`  ${secs(s["hoist"])} s`);
    // Read now: the working folder goes with the cleanup.
    phases = hoistPhases(migrateLogLines(place), parseJsonLines(hoistRun.receiverLog), hoistRun.startedAt, hoistRun.startedAt + hoistRun.seconds * 1000);
    // A finished migration releases its intermediate instance; a receiver still running is a leak worth reporting.
    leakedReceivers = receiversOf(place.home);

    const qcow = join(place.store, imageName, "system.qcow2");
    if (!existsSync(qcow)) throw new Error(`hoist made no ${qcow}`);
    say(`(b) hoist image verify ${imageName} ...`);
    const verifyLog = join(work, "verify.log");
    s["verify"] = (await timed(process.execPath, [join(repo, "apps/hoist/bin/hoist"), "image", "verify", imageName, "--image-store", place.store], { logFile: verifyLog })).seconds;
    say(`  ${secs(s["verify"])} s`);

    say("(b) plain QEMU boot of the same image to multi-user ...");
    const plainLog = join(work, "boot-plain.log");
    s["plainBoot"] = (await timed("bash", [join(repo, "bench/baseline/boot-plain.sh"), qcow, join(work, "plain-console.log")], { logFile: plainLog })).seconds;
    say(`  ${secs(s["plainBoot"])} s`);

    if (opts.bootBaseline) {
      say("Proving the hand-made image boots too (not part of the ratios) ...");
      s["byHandBoot"] = (await timed("bash", [join(repo, "bench/baseline/boot-plain.sh"), join(byHand, "image.qcow2"), join(work, "by-hand-console.log")], { logFile: plainLog })).seconds;
      say(`  booted to multi-user in ${secs(s["byHandBoot"])} s`);
    }
  });

  const v = (k: string): number => s[k] ?? Number.NaN;
  const run = hoistRun as HoistRun | null;
  say("");
  say(`Image pipeline on the Debian 12 fixture, 20 GiB system disk, QEMU ${accel} -m 1024 -smp 2`);
  say(
    table(
      ["what", "hoist s", "peer s", "hoist/peer", "aim"],
      [
        ["(a) migrate --no-verify vs by hand", secs(v("hoist")), secs(v("byHand")), ratio(v("hoist"), v("byHand")), "<= 1.30x"],
        ["(b) image verify vs plain boot", secs(v("verify")), secs(v("plainBoot")), ratio(v("verify"), v("plainBoot")), "<= 1.20x"],
      ],
    ),
  );
  say("");
  if (run) {
    printPhases("Where hoist migrate --no-verify spends its time (migrate log + receiver log):", phases, run.seconds);
    say("");
  }
  printPhases("Where the by-hand peer spends its time:", baselineSteps, v("byHand"));
  if (leakedReceivers.length > 0) say(`\nNote: the receiver of the released intermediate instance was still running after hoist migrate finished (pid ${leakedReceivers.join(", ")}); stopped by the benchmark.`);
  const file = saveResults(repo, "image-pipeline", { seconds: s, hoistPhases: phases, baselinePhases: baselineSteps, leakedReceivers, machine: machine(accel) });
  say(`\nNumbers saved in ${file}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});

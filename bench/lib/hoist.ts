// Driving the `hoist` CLI the way a user does: a working folder with
// user_config.json, its own HOIST_HOME and image store, one process per run.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLocalProvider } from "@hoist/providers";
import { silentLogger } from "@hoist/runtime";
import { type MemoryPeak, sampleMemory, timed } from "./proc";
import { sweepHoistHome } from "./scratch";

export interface HoistPlace {
  workdir: string;
  home: string;
  store: string;
}

export function makeHoistPlace(base: string, imageName: string): HoistPlace {
  const place = { workdir: join(base, "workdir"), home: join(base, "home"), store: join(base, "images") };
  for (const d of Object.values(place)) mkdirSync(d, { recursive: true });
  const config = {
    access_id: "",
    secret_key: "",
    region_id: "local",
    image_name: imageName,
    system_disk_size: 20,
    platform: "Debian",
    architecture: "x86_64",
    bandwidth_limit: 0,
    data_disks: [],
  };
  writeFileSync(join(place.workdir, "user_config.json"), `${JSON.stringify(config, null, 2)}\n`);
  return place;
}

export interface HoistRun {
  seconds: number;
  startedAt: number;
  memory: MemoryPeak;
  /** Receiver log lines seen while the command ran (the receiver deletes its folder on release). */
  receiverLog: string[];
}

function readReceiverLogs(home: string): string[] {
  const dir = join(home, "instances");
  if (!existsSync(dir)) return [];
  const lines: string[] = [];
  for (const id of readdirSync(dir)) {
    const file = join(dir, id, "receiver.log");
    if (existsSync(file)) lines.push(...readFileSync(file, "utf8").split("\n").filter(Boolean));
  }
  return lines;
}

/** Runs `hoist <args>` with the place's environment, sampling the agent's memory and the receiver's log. */
export async function runHoist(repo: string, place: HoistPlace, args: string[], logFile: string): Promise<HoistRun> {
  let sampler: ReturnType<typeof sampleMemory> | null = null;
  let receiverLog: string[] = [];
  // The receiver log is polled because a successful run releases the instance and its folder with it.
  const poll = setInterval(() => {
    const seen = readReceiverLogs(place.home);
    if (seen.length >= receiverLog.length) receiverLog = seen;
  }, 250);
  const startedAt = Date.now();
  try {
    const { seconds } = await timed(process.execPath, [join(repo, "apps/hoist/bin/hoist"), ...args], {
      env: { HOIST_HOME: place.home, HOIST_IMAGE_STORE: place.store },
      logFile,
      onStart: (child) => {
        if (child.pid) sampler = sampleMemory(child.pid, /\sreceiver\s/);
      },
    });
    const seen = readReceiverLogs(place.home);
    if (seen.length >= receiverLog.length) receiverLog = seen;
    const memory = (sampler as ReturnType<typeof sampleMemory> | null)?.stop() ?? { processKiB: 0, treeKiB: 0, treeByProgram: {} };
    return { seconds, startedAt, memory, receiverLog };
  } finally {
    clearInterval(poll);
    (sampler as ReturnType<typeof sampleMemory> | null)?.stop();
  }
}

export function migrateArgs(place: HoistPlace, sourceRoot: string, extra: string[]): string[] {
  return ["migrate", "--workdir", place.workdir, "--source-root", sourceRoot, "--noenterkey", "--compression", "0", "--image-store", place.store, ...extra];
}

/** Releases the intermediate instances a run left (as --cleardata would), then sweeps anything still attached. */
export async function releaseHoist(place: HoistPlace): Promise<void> {
  const provider = createLocalProvider({ home: place.home, imageStore: place.store, logger: silentLogger });
  const dir = join(place.home, "instances");
  if (existsSync(dir)) {
    for (const id of readdirSync(dir)) await provider.releaseIntermediateInstance(id).catch(() => undefined);
  }
  await sweepHoistHome(place.home);
}

/** The JSON lines of the migrate log(s) in the working folder, oldest first. */
export function migrateLogLines(place: HoistPlace): { time: number; msg: string; fields: Record<string, unknown> }[] {
  const dir = join(place.workdir, "Logs");
  if (!existsSync(dir)) return [];
  const out: { time: number; msg: string; fields: Record<string, unknown> }[] = [];
  for (const f of readdirSync(dir).sort()) out.push(...parseJsonLines(readFileSync(join(dir, f), "utf8").split("\n")));
  return out;
}

export function parseJsonLines(lines: string[]): { time: number; msg: string; fields: Record<string, unknown> }[] {
  const out: { time: number; msg: string; fields: Record<string, unknown> }[] = [];
  for (const line of lines) {
    try {
      const rec = JSON.parse(line) as Record<string, unknown>;
      const time = Date.parse(String(rec["time"]));
      if (Number.isFinite(time)) out.push({ time, msg: String(rec["msg"] ?? ""), fields: rec });
    } catch {
      // a receiver's stderr line, not JSON
    }
  }
  return out;
}

// `hoist check`: every pre-flight item in one pass, like client_check --check.
// Items run side by side; each one reports instead of throwing, so one broken
// probe never hides the others.
import { checkGrub, checkVirtio } from "./boot-items";
import { checkPort, checkReceiverHealth } from "./receiver-items";
import { checkRoot, checkRsync, checkSelinux, checkWorkdirSpace } from "./system-items";
import type { CheckItem, CheckOptions, CheckStatus } from "./types";

async function guarded(id: string, probe: () => Promise<CheckItem | CheckItem[]>): Promise<CheckItem[]> {
  try {
    const r = await probe();
    return Array.isArray(r) ? r : [r];
  } catch (e) {
    return [{ id, status: "FAIL", detail: `the check itself failed: ${e instanceof Error ? e.message : String(e)}`, fix: "Run hoist check --json and report the output." }];
  }
}

export interface CheckReport {
  ok: boolean;
  items: CheckItem[];
}

export async function runChecks(options: CheckOptions): Promise<CheckReport> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const probes: Promise<CheckItem[]>[] = [
    guarded("root", async () => checkRoot()),
    guarded("rsync", () => checkRsync()),
    guarded("selinux", () => checkSelinux(options.sourceRoot)),
    guarded("workdir-space", async () => checkWorkdirSpace(options.workdir)),
    guarded("virtio", () => checkVirtio(options.sourceRoot)),
    guarded("grub", () => checkGrub(options.sourceRoot)),
  ];
  if (options.receiver) {
    const host = options.receiver;
    probes.push(
      guarded("control-port", () => checkPort("control-port", host, options.controlPort, timeoutMs)),
      guarded("data-port", () => checkPort("data-port", host, options.dataPort, timeoutMs)),
      guarded("clock", () => checkReceiverHealth(host, options.controlPort, options.fingerprint, timeoutMs)),
    );
  }
  const items = (await Promise.all(probes)).flat();
  return { ok: items.every((i) => i.status !== "FAIL"), items };
}

/** One line per item, as a person reads it, and a verdict line last. */
export function formatCheckReport(report: CheckReport): string {
  const width = Math.max(...report.items.map((i) => i.id.length));
  const lines = report.items.map((i) => `${i.status.padEnd(4)} ${i.id.padEnd(width)}  ${i.detail}${i.fix && i.status !== "OK" ? ` -- Fix: ${i.fix}` : ""}`);
  const count = (s: CheckStatus) => report.items.filter((i) => i.status === s).length;
  lines.push(`${report.ok ? "OK" : "FAIL"}: ${count("OK")} OK, ${count("WARN")} WARN, ${count("FAIL")} FAIL`);
  return `${lines.join("\n")}\n`;
}

// "Where the time goes": stage boundaries read from timestamps. For hoist,
// the agent's migrate log and the receiver's log (both JSON lines) are merged
// and each known message marks where a step begins; a step lasts until the
// next one begins. For the by-hand peer, its own "@step NAME TIME" lines.

export interface Phase {
  name: string;
  seconds: number;
}

export interface LogLine {
  time: number;
  msg: string;
  fields: Record<string, unknown>;
}

interface Marker {
  time: number;
  name: string;
}

/** Which step a log line starts, if any. */
function agentStep(line: LogLine): string | null {
  if (line.msg === "starting intermediate instance") return "start the receiver (intermediate instance)";
  if (/^Intermediate instance .* is running/.test(line.msg)) return "create the job on the receiver";
  if (line.msg === "transfer planned") return "copy: rsync over TLS";
  if (line.msg === "transfer finished") return "after the copy: client_data, next request (or exit)";
  if (/^Creating image /.test(line.msg)) return "image: qemu-img convert to qcow2, manifest";
  if (line.msg === "released intermediate instance") return "exit";
  return null;
}

function receiverStep(line: LogLine): string | null {
  if (line.msg === "creating target disk") return "prepare target disk: sparse file, sfdisk, loop devices";
  if (line.msg === "formatting partition") return "mkfs, mount; agent walks the source to plan streams";
  if (line.msg === "convert step") return `convert: ${String(line.fields["step"] ?? "?")}`;
  if (line.msg === "detached partition") return "detach: unmount, losetup -d";
  if (line.msg === "job deleted") return "release: stop the receiver, remove its folder";
  return null;
}

function phasesFrom(markers: Marker[], start: number, end: number): Phase[] {
  const sorted = [...markers].sort((a, b) => a.time - b.time);
  const phases: Phase[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const m = sorted[i]!;
    const until = i + 1 < sorted.length ? sorted[i + 1]!.time : end;
    const seconds = Math.max(0, (Math.min(until, end) - Math.max(m.time, start)) / 1000);
    const last = phases[phases.length - 1];
    // Repeated markers of one step (a partition per disk, a detach per partition) fold into one row.
    if (last && last.name === m.name) last.seconds += seconds;
    else phases.push({ name: m.name, seconds });
  }
  return phases;
}

export function hoistPhases(agent: LogLine[], receiver: LogLine[], start: number, end: number): Phase[] {
  const markers: Marker[] = [{ time: start, name: "start-up, inventory (du of the source), plan" }];
  for (const l of agent) {
    const name = agentStep(l);
    if (name && l.time >= start) markers.push({ time: l.time, name });
  }
  for (const l of receiver) {
    const name = receiverStep(l);
    if (name && l.time >= start) markers.push({ time: l.time, name });
  }
  return phasesFrom(markers, start, end);
}

export function baselinePhases(log: string, start: number, end: number): Phase[] {
  const markers: Marker[] = [{ time: start, name: "start" }];
  for (const m of log.matchAll(/^@step (\S+) (\d+(?:\.\d+)?)$/gm)) {
    markers.push({ time: Number(m[2]) * 1000, name: m[1] === "done" ? "exit" : (m[1] ?? "?") });
  }
  return phasesFrom(markers, start, end);
}

// File mode runs rsync's "daemon over remote shell": the receiver starts
// `rsync --server --daemon` per connection with a config that lists only the
// connecting job's disks as modules. chroot keeps symlinks from escaping a
// module, rsync's own path sanitising handles `..`, and a token reaches
// nothing but its own job's modules.
import { HoistError } from "@hoist/protocol";
import type { PreparedDisk } from "@hoist/images";

/** The only remote command accepted: what rsync asks its remote shell to run for `host::module`. */
export function checkRsyncCommand(command: readonly string[]): void {
  const ok = command.length === 4 && command[0] === "rsync" && command[1] === "--server" && command[2] === "--daemon" && command[3] === ".";
  if (!ok) {
    throw new HoistError("Receiver.BadRsyncArgs", `the data port only runs rsync in daemon mode; refused: ${command.slice(0, 8).join(" ").slice(0, 200)}`, {
      fix: "Use the hoist transfer engine (rsync with `-e 'hoist tunnel'` and a `hoist::MODULE` destination).",
    });
  }
}

function confValue(value: string): string {
  // rsyncd.conf has no quoting; a newline would start a new setting.
  if (/[\n\r]/.test(value)) throw new HoistError("Receiver.BadTargetPath", "a target path contains a line break");
  return value;
}

export interface RsyncdConfigOptions {
  disks: readonly PreparedDisk[];
  logFile?: string;
}

export function buildRsyncdConfig(options: RsyncdConfigOptions): string {
  const lines = [
    "# generated per connection; lists only this job's target disks",
    "use chroot = yes",
    "uid = 0",
    "gid = 0",
    "numeric ids = yes",
    "read only = no",
    "write only = yes",
    "list = no",
    "max connections = 0",
    "timeout = 600",
    ...(options.logFile ? [`log file = ${confValue(options.logFile)}`] : []),
    "",
  ];
  for (const d of options.disks) {
    if (!/^(system|disk([1-9]|1[0-6]))$/.test(d.key)) throw new HoistError("Receiver.BadTargetPath", `"${d.key}" is not a disk key`);
    lines.push(`[${d.key}]`, `path = ${confValue(d.mountPath)}`, "");
  }
  return lines.join("\n");
}

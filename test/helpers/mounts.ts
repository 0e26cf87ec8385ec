// Reading or editing a filesystem inside a disk image file: attached to a loop
// device of its own (a partition by its offset and size), mounted, and both
// taken down again whatever the body does.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";

export interface MountOptions {
  /** Where the filesystem starts in the file, in bytes. */
  offset?: number;
  /** How many bytes it spans. */
  size?: number;
  readOnly?: boolean;
}

export function withMountedFile<T>(file: string, dir: string, body: (dir: string) => T, opts: MountOptions = {}): T {
  const args = ["--find", "--show", ...(opts.readOnly ? ["--read-only"] : [])];
  if (opts.offset !== undefined) args.push("--offset", String(opts.offset));
  if (opts.size !== undefined) args.push("--sizelimit", String(opts.size));
  const dev = execFileSync("losetup", [...args, file], { encoding: "utf8" }).trim();
  try {
    mkdirSync(dir, { recursive: true });
    execFileSync("mount", [...(opts.readOnly ? ["-o", "ro"] : []), dev, dir]);
    try {
      return body(dir);
    } finally {
      execFileSync("umount", [dir]);
    }
  } finally {
    execFileSync("losetup", ["-d", dev]);
  }
}

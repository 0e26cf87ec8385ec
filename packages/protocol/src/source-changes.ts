// What changed on a source while it was being copied: the agent compares the
// tree as it was when a copy started with the tree when it ended, and reports
// counts plus a bounded sample of paths per disk. A live server always changes
// a little; the report tells the user what the next sync will bring over.
import { z } from "zod";

export const SOURCE_CHANGE_KINDS = ["appeared", "vanished", "changed"] as const;
export type SourceChangeKind = (typeof SOURCE_CHANGE_KINDS)[number];

/** Paths named per disk, shared among the kinds; the counts cover everything. */
export const SOURCE_CHANGE_SAMPLE = 100;
/** Longer paths are cut (with "…") in the sample. */
export const SOURCE_CHANGE_PATH_MAX = 1024;

export const SourceChangeSchema = z.strictObject({
  change: z.enum(SOURCE_CHANGE_KINDS),
  /** Absolute on the source. A folder that appeared or vanished is named once, not with everything in it. */
  path: z.string().max(SOURCE_CHANGE_PATH_MAX + 1),
  dir: z.boolean().optional(),
  /** Sizes of a changed file (or link) when the copy started and when it ended. */
  bytesBefore: z.number().int().min(0).optional(),
  bytesAfter: z.number().int().min(0).optional(),
});
export type SourceChange = z.infer<typeof SourceChangeSchema>;

export const DiskSourceChangesSchema = z.strictObject({
  /** The target disk: "system" or "diskN". */
  disk: z.string().max(32),
  /** Entries (files, links, folders and everything in them) that appeared, vanished or changed size or mtime. */
  appeared: z.number().int().min(0),
  vanished: z.number().int().min(0),
  changed: z.number().int().min(0),
  paths: z.array(SourceChangeSchema).max(SOURCE_CHANGE_SAMPLE),
});
export type DiskSourceChanges = z.infer<typeof DiskSourceChangesSchema>;

/** The job view's ChangedDuringCopy: the last completed copy of the job, in SMC-style field names. */
export interface ChangedDuringCopy {
  /** The run whose copy this was. */
  Run: number;
  Appeared: number;
  Vanished: number;
  Changed: number;
  Disks: {
    Disk: string;
    Appeared: number;
    Vanished: number;
    Changed: number;
    Paths: { Change: SourceChangeKind; Path: string; Dir: boolean; BytesBefore: number | null; BytesAfter: number | null }[];
  }[];
}

export function changedDuringCopyView(run: number, disks: readonly DiskSourceChanges[]): ChangedDuringCopy {
  const sum = (k: SourceChangeKind) => disks.reduce((n, d) => n + d[k], 0);
  return {
    Run: run,
    Appeared: sum("appeared"),
    Vanished: sum("vanished"),
    Changed: sum("changed"),
    Disks: disks.map((d) => ({
      Disk: d.disk,
      Appeared: d.appeared,
      Vanished: d.vanished,
      Changed: d.changed,
      Paths: d.paths.map((p) => ({ Change: p.change, Path: p.path, Dir: p.dir === true, BytesBefore: p.bytesBefore ?? null, BytesAfter: p.bytesAfter ?? null })),
    })),
  };
}

/** "18 appeared, 24 vanished, 2 changed", or "nothing" when the source held still. */
export function sourceChangesSummary(c: { appeared: number; vanished: number; changed: number }): string {
  const parts = SOURCE_CHANGE_KINDS.filter((k) => c[k] > 0).map((k) => `${c[k]} ${k}`);
  return parts.length ? parts.join(", ") : "nothing";
}

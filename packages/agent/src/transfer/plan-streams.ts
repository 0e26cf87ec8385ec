// Splits one source tree into parallel rsync streams. The tree is cut into
// units (top-level folders first, descending into big folders until there
// are enough), units that share a hard-linked inode stay together (rsync -H
// only links files it sees in the same run), and units are bin-packed by size.
// Stream 0 owns everything no other stream owns, so deletions, leftovers and
// names unfit for filter rules are always handled by someone.
import type { SourceWalk, WalkDir } from "./walk";

export interface StreamUnit {
  /** Relative to the source root, no leading slash. */
  path: string;
  dir: boolean;
  bytes: number;
}

export interface StreamPlan {
  index: number;
  units: StreamUnit[];
  /** Planned cost: bytes plus a per-entry allowance for small files. */
  cost: number;
}

export interface PlanOptions {
  streams: number;
  /** Stop splitting once there are this many units per stream. */
  unitsPerStream?: number;
  maxUnits?: number;
}

/** What a file entry costs next to its bytes (open, stat, create on the far side). */
const ENTRY_COST = 16 * 1024;

interface Unit extends StreamUnit {
  node: WalkDir | null;
  entries: number;
}

export function planStreams(walk: SourceWalk, options: PlanOptions): StreamPlan[] {
  const streams = Math.max(1, Math.floor(options.streams));
  const totalCost = walk.totalBytes + walk.totalEntries * ENTRY_COST;
  if (streams === 1) return [{ index: 0, units: [], cost: totalCost }];
  const wanted = Math.min(options.maxUnits ?? 2000, streams * (options.unitsPerStream ?? 4));

  const parent = new Map<WalkDir, WalkDir>();
  const stack = [walk.root];
  while (stack.length) {
    const d = stack.pop()!;
    for (const s of d.dirs) {
      parent.set(s, d);
      stack.push(s);
    }
  }

  const units = new Map<string, Unit>();
  const unitOfDir = new Map<WalkDir, Unit>();
  const split = (d: WalkDir) => {
    for (const s of d.dirs) {
      if (s.path === null) continue;
      const u: Unit = { path: s.path, dir: true, bytes: s.bytes, node: s, entries: s.entries };
      units.set(u.path, u);
      unitOfDir.set(s, u);
    }
    for (const f of d.bigFiles) units.set(f.path, { path: f.path, dir: false, bytes: f.bytes, node: null, entries: 1 });
  };
  const costOf = (u: Unit) => u.bytes + u.entries * ENTRY_COST;
  split(walk.root);
  while (units.size < wanted) {
    let biggest: Unit | undefined;
    for (const u of units.values()) {
      if (u.node && (u.node.dirs.length > 0 || u.node.bigFiles.length > 0) && (!biggest || costOf(u) > costOf(biggest))) biggest = u;
    }
    // Only a folder that would hold a good share of a stream is worth splitting.
    if (!biggest?.node || costOf(biggest) < totalCost / (streams * 2)) break;
    units.delete(biggest.path);
    unitOfDir.delete(biggest.node);
    split(biggest.node);
  }

  // Union-find over units; REST stands for "not in any unit" (stream 0).
  const REST = "\0rest";
  const up = new Map<string, string>();
  const find = (k: string): string => {
    let r = k;
    while (up.has(r)) r = up.get(r)!;
    if (r !== k) up.set(k, r);
    return r;
  };
  const union = (a: string, b: string) => {
    const ra = find(a);
    const rb = find(b);
    if (ra === rb) return;
    // REST always stays the root of its group, so the group is pinned to stream 0.
    if (rb === REST) up.set(ra, rb);
    else up.set(rb, ra);
  };
  const ownerOf = (dir: WalkDir, bigFile: string | null): string => {
    if (bigFile && units.has(bigFile)) return bigFile;
    for (let d: WalkDir | undefined = dir; d; d = parent.get(d)) {
      const u = unitOfDir.get(d);
      if (u) return u.path;
    }
    return REST;
  };
  for (const links of walk.hardLinks) {
    const owners = links.map((l) => ownerOf(l.dir, l.bigFile));
    for (const o of owners.slice(1)) union(owners[0]!, o);
  }

  const groups = new Map<string, Unit[]>();
  for (const u of units.values()) {
    const root = find(u.path);
    const g = groups.get(root) ?? [];
    g.push(u);
    groups.set(root, g);
  }
  const plans: StreamPlan[] = Array.from({ length: streams }, (_, index) => ({ index, units: [], cost: 0 }));
  let unitCost = 0;
  for (const u of units.values()) unitCost += costOf(u);
  plans[0]!.cost = Math.max(0, totalCost - unitCost);
  const pinned = groups.get(REST) ?? [];
  groups.delete(REST);
  plans[0]!.cost += pinned.reduce((s, u) => s + costOf(u), 0);
  const ordered = [...groups.values()].map((g) => ({ g, cost: g.reduce((s, u) => s + costOf(u), 0) })).sort((a, b) => b.cost - a.cost || a.g[0]!.path.localeCompare(b.g[0]!.path));
  for (const { g, cost } of ordered) {
    let target = plans[0]!;
    for (const p of plans) if (p.cost < target.cost) target = p;
    target.cost += cost;
    if (target.index !== 0) target.units.push(...g.map(({ path, dir, bytes }) => ({ path, dir, bytes })));
  }
  for (const p of plans) p.units.sort((a, b) => a.path.localeCompare(b.path));
  return plans.filter((p) => p.index === 0 || p.units.length > 0);
}

function parentsOf(path: string): string[] {
  const parts = path.split("/");
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(`/${parts.slice(0, i).join("/")}/`);
  return out;
}

function tempPattern(path: string): string {
  // rsync writes a file as ".NAME.XXXXXX" beside it before renaming it in place.
  const i = path.lastIndexOf("/");
  return i < 0 ? `/.${path}.*` : `/${path.slice(0, i)}/.${path.slice(i + 1)}.*`;
}

/** rsync filter rules ("+ …"/"- …") for the excludes every stream shares. */
export function excludeRules(excludes: readonly string[], skipPaths: readonly string[] = []): string[] {
  const rules: string[] = [];
  for (const raw of excludes) {
    const p = raw.replace(/\r$/, "");
    if (!p.trim() || p.startsWith("#") || p.startsWith(";")) continue;
    rules.push(/^[+-] /.test(p) ? p : `- ${p}`);
  }
  for (const s of skipPaths) rules.push(`- /${s.replace(/^\/+|\/+$/g, "")}/*`);
  return rules;
}

/**
 * The filter rules of one stream (to be written NUL-separated for --from0).
 * `common` comes first so excludes win everywhere.
 */
export function streamFilterRules(plans: readonly StreamPlan[], index: number, common: readonly string[]): string[] {
  const rules = [...common];
  if (index === 0) {
    for (const p of plans) {
      if (p.index === 0) continue;
      for (const u of p.units) {
        rules.push(`- /${u.path}`);
        if (!u.dir) rules.push(`- ${tempPattern(u.path)}`);
      }
    }
    return rules;
  }
  const plan = plans.find((p) => p.index === index);
  const seen = new Set<string>();
  for (const u of plan?.units ?? []) {
    for (const parentRule of parentsOf(u.path)) {
      if (!seen.has(parentRule)) rules.push(`+ ${parentRule}`);
      seen.add(parentRule);
    }
    rules.push(`+ /${u.path}`);
    if (u.dir) rules.push(`+ /${u.path}/**`);
    else rules.push(`+ ${tempPattern(u.path)}`);
  }
  rules.push("- *");
  return rules;
}

/**
 * A last pass that only sets folder metadata. Only the folders above the
 * streams' units get entries from more than one stream, so only their mtimes
 * can be left stale; every other folder is finished by the one stream that
 * owns it. Naming just those folders keeps the pass from walking the tree again.
 */
export function folderPassRules(plans: readonly StreamPlan[], common: readonly string[]): string[] {
  const rules = [...common];
  const seen = new Set<string>();
  for (const p of plans) {
    if (p.index === 0) continue;
    for (const u of p.units) {
      for (const parentRule of parentsOf(u.path)) {
        if (!seen.has(parentRule)) rules.push(`+ ${parentRule}`);
        seen.add(parentRule);
      }
    }
  }
  rules.push("- *");
  return rules;
}

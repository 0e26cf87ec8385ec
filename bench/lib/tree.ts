// The source trees the transfer benchmark copies. Writing 100k files takes a
// while, so each recipe is built once into a cache outside the repository,
// into a temp folder renamed into place only when whole. The tree looks like a
// (tiny) Linux root so `hoist migrate --source-root` accepts it: os-release
// and GRUB's BIOS module folder, then the payload under srv/.
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, linkSync, mkdirSync, openSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";

export interface TreeRecipe {
  /** Number of small files. */
  files: number;
  minKiB: number;
  maxKiB: number;
  /** Files per leaf folder; leaves sit two levels deep (srv/files/aNNN/bNN). */
  perFolder: number;
  /** Large files of random bytes. */
  bigFiles: number;
  bigMiB: number;
  version: number;
}

export const TREE_100K: TreeRecipe = { files: 100_000, minKiB: 1, maxKiB: 16, perFolder: 100, bigFiles: 4, bigMiB: 200, version: 1 };
// The 1M-file tree is about per-file cost, so its files are small enough to keep it near 3 GB.
export const TREE_1M: TreeRecipe = { files: 1_000_000, minKiB: 1, maxKiB: 4, perFolder: 200, bigFiles: 0, bigMiB: 0, version: 1 };

export function treeCacheBase(): string {
  return process.env["HOIST_BENCH_CACHE"] ?? "/var/cache/hoist-bench";
}

export function treeKey(recipe: TreeRecipe): string {
  return createHash("sha256").update(JSON.stringify(recipe)).digest("hex").slice(0, 12);
}

/** A small deterministic generator, so every build of a recipe has the same sizes and shape. */
function sizes(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function writeRandomFile(path: string, bytes: number): void {
  const fd = openSync(path, "w", 0o644);
  try {
    const chunk = 8 << 20;
    for (let done = 0; done < bytes; done += chunk) writeSync(fd, randomBytes(Math.min(chunk, bytes - done)));
  } finally {
    closeSync(fd);
  }
}

function buildTree(dir: string, recipe: TreeRecipe, say: (line: string) => void): void {
  mkdirSync(join(dir, "etc"), { recursive: true });
  writeFileSync(join(dir, "etc/os-release"), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n');
  writeFileSync(join(dir, "etc/hostname"), "bench-source\n");
  mkdirSync(join(dir, "usr/lib/grub/i386-pc"), { recursive: true });
  writeFileSync(join(dir, "usr/lib/grub/i386-pc/README"), "placeholder so the tree passes as a BIOS-bootable root\n");
  const next = sizes(recipe.files ^ (recipe.version << 20));
  const pool = randomBytes(1 << 20);
  const span = recipe.maxKiB - recipe.minKiB + 1;
  const foldersPerTop = 10;
  let made = 0;
  for (let a = 0; made < recipe.files; a++) {
    for (let b = 0; b < foldersPerTop && made < recipe.files; b++) {
      const leaf = join(dir, "srv/files", `a${String(a).padStart(4, "0")}`, `b${String(b).padStart(2, "0")}`);
      mkdirSync(leaf, { recursive: true });
      for (let f = 0; f < recipe.perFolder && made < recipe.files; f++, made++) {
        const bytes = (recipe.minKiB + (next() % span)) * 1024 - (next() % 512);
        const offset = next() % (pool.length - bytes);
        const name = join(leaf, `f${String(f).padStart(4, "0")}.dat`);
        writeFileSync(name, pool.subarray(offset, offset + bytes));
        // A few links, as on a real server: rsync -H and tar must keep them.
        if (f === 7) symlinkSync(`f${String(f).padStart(4, "0")}.dat`, join(leaf, "latest"));
        if (f === 9) linkSync(name, join(leaf, "hardlink.dat"));
      }
    }
    if (a % 20 === 19) say(`  ${made} files`);
  }
  if (recipe.bigFiles > 0) mkdirSync(join(dir, "srv/blobs"), { recursive: true });
  for (let i = 0; i < recipe.bigFiles; i++) {
    say(`  large file ${i + 1}/${recipe.bigFiles} (${recipe.bigMiB} MiB)`);
    writeRandomFile(join(dir, "srv/blobs", `blob-${i}.bin`), recipe.bigMiB << 20);
  }
}

/** Path of the cached tree for a recipe, building it first when missing. */
export function ensureTree(recipe: TreeRecipe, say: (line: string) => void): string {
  const base = join(treeCacheBase(), `tree-v${recipe.version}-${treeKey(recipe)}`);
  const root = join(base, "root");
  if (existsSync(join(root, "etc/os-release"))) return root;
  const tmp = join(base, `.build-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  say(`Building the source tree (${recipe.files} files, ${recipe.bigFiles} x ${recipe.bigMiB} MiB) in ${base}; it is cached for later runs.`);
  try {
    buildTree(tmp, recipe, say);
    renameSync(tmp, root);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return root;
}

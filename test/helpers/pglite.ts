// Throwaway in-memory PGlite databases for tests. A new PGlite runs initdb
// under WebAssembly, which takes seconds; a fresh data folder is dumped once
// (cached on disk per PGlite version, shared by every test process) and each
// database starts from that copy instead.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Database, dumpPgliteTemplate, openPglite } from "@hoist/server";

const ROOT = resolve(import.meta.dirname, "../..");
let template: Promise<Blob> | undefined;

function pgliteVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, "node_modules/@electric-sql/pglite/package.json"), "utf8")) as { version: string }).version;
}

async function loadTemplate(): Promise<Blob> {
  const dir = join(ROOT, "node_modules/.cache/hoist-test");
  const file = join(dir, `pglite-${pgliteVersion()}.tar`);
  if (existsSync(file)) return new Blob([readFileSync(file)]);
  const blob = await dumpPgliteTemplate();
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}`;
  writeFileSync(tmp, Buffer.from(await blob.arrayBuffer()));
  renameSync(tmp, file);
  return blob;
}

/** A new, empty in-memory PGlite database. */
export async function freshPglite(): Promise<Database> {
  template ??= loadTemplate();
  return openPglite(undefined, { template: await template });
}

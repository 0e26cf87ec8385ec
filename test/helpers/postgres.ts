// A throwaway PostgreSQL server for tests: Debian's postgresql package, a
// fresh cluster in a temp folder, trust auth, a free port on 127.0.0.1 and its
// socket in the same folder, so concurrent test files never meet. initdb and
// postgres refuse to run as root, so as root they run as the postgres user.
import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports";

const BIN = "/usr/lib/postgresql/15/bin";

export interface TestPostgres {
  url: string;
  port: number;
  stop(): Promise<void>;
}

function asOwner(args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [args[0] as string, args.slice(1)];
  return ["runuser", ["-u", "postgres", "--", ...args]];
}

function sh(args: string[]): void {
  const [cmd, rest] = asOwner(args);
  execFileSync(cmd, rest, { stdio: "pipe" });
}

export async function startPostgres(): Promise<TestPostgres> {
  if (!existsSync(join(BIN, "initdb"))) throw new Error(`PostgreSQL 15 is not installed (${BIN}/initdb missing): run scripts/install-deps.sh`);
  const dir = mkdtempSync(join(tmpdir(), "hoist-pg-"));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, "data");
  sh([join(BIN, "initdb"), "-D", data, "--auth", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
  let port = 0;
  // A free port can be taken between probing and binding; try a few.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      sh([join(BIN, "pg_ctl"), "-D", data, "-w", "-t", "60", "-l", join(dir, "server.log"), "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, "start"]);
      break;
    } catch (e) {
      if (attempt >= 3) {
        rmSync(dir, { recursive: true, force: true });
        throw e;
      }
    }
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      try {
        sh([join(BIN, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

// The receiver's state directory: its certificate and key, the admin token,
// receiver.json (how a provider finds it again) and one folder per job. Made
// on first start and reused afterwards, so a restarted receiver keeps its
// identity and its jobs.
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { HoistError } from "@hoist/protocol";
import { fingerprintOfCertificate, generateSelfSignedCertificate } from "@hoist/transport";

export interface ReceiverState {
  dir: string;
  certPem: Buffer;
  keyPem: Buffer;
  fingerprint: string;
  adminToken: string;
  jobsDir: string;
}

async function exists(path: string): Promise<boolean> {
  try {
    await readFile(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes a file atomically with the given mode, so a crash never leaves half a file. */
export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

export async function openState(dir: string): Promise<ReceiverState> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    const jobsDir = join(dir, "jobs");
    await mkdir(jobsDir, { recursive: true, mode: 0o700 });
    const certPath = join(dir, "cert.pem");
    const keyPath = join(dir, "key.pem");
    if (!(await exists(certPath)) || !(await exists(keyPath))) await generateSelfSignedCertificate(dir, `hoist-receiver-${hostname()}`);
    const tokenPath = join(dir, "admin.token");
    if (!(await exists(tokenPath))) await writeFileAtomic(tokenPath, `${randomBytes(32).toString("hex")}\n`);
    const certPem = await readFile(certPath);
    return {
      dir,
      certPem,
      keyPem: await readFile(keyPath),
      fingerprint: fingerprintOfCertificate(certPem),
      adminToken: (await readFile(tokenPath, "utf8")).trim(),
      jobsDir,
    };
  } catch (e) {
    if (e instanceof HoistError) throw e;
    throw new HoistError("Receiver.StateDirUnusable", `cannot use the state directory ${dir}: ${e instanceof Error ? e.message : String(e)}`, {
      fix: "Run the receiver as root with a state directory on a local, writable filesystem.",
      cause: e,
    });
  }
}

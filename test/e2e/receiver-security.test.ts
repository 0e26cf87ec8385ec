// What a hostile or mistaken client can do to a receiver: nothing without the
// right token, nothing outside its own job's target disks, and nothing at all
// when it does not trust the receiver's certificate.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { connect } from "node:tls";
import { join, resolve } from "node:path";
import { transferTree } from "@hoist/agent";
import type { CreateJobResponse, ReceiverReady } from "@hoist/protocol";
import { connectPinned, createControlClient, encodeFrame, readFrame } from "@hoist/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ONE_DISK_PLAN, type ReceiverProcess, startReceiverProcess } from "../helpers/receiver";

const ROOT = resolve(import.meta.dirname, "../..");
const HOIST_MJS = join(ROOT, "apps/hoist/dist/hoist.mjs");
const base = mkdtempSync("/var/tmp/hoist-receiver-security-");
const outside = mkdtempSync("/tmp/hoist-outside-");
const stateDir = join(base, "state");

let receiver: ReceiverProcess;
let ready: ReceiverReady;
let jobA: CreateJobResponse & { target: string };
let jobB: CreateJobResponse & { target: string };
const endpoint = () => ({ host: "127.0.0.1", port: ready.controlPort, fingerprint: ready.fingerprint });

async function newJob(): Promise<CreateJobResponse & { target: string }> {
  const admin = createControlClient({ ...endpoint(), token: readFileSync(join(stateDir, "admin.token"), "utf8").trim() });
  const job = await admin.json<CreateJobResponse>("POST", "/v1/jobs", { plan: ONE_DISK_PLAN });
  const prepared = await createControlClient({ ...endpoint(), token: job.token }).json<{ disks: { mountPath: string }[] }>("POST", `/v1/jobs/${job.jobId}/prepare`);
  return { ...job, target: prepared.disks[0]!.mountPath };
}

/** Sends a raw header on the data port and returns the receiver's reply frame. */
async function header(value: unknown): Promise<Record<string, unknown>> {
  const socket = await connectPinned({ host: "127.0.0.1", port: ready.dataPort, fingerprint: ready.fingerprint });
  socket.write(encodeFrame(value));
  const { value: reply } = await readFrame(socket, { timeoutMs: 15_000 });
  socket.destroy();
  return reply as Record<string, unknown>;
}

function rsyncThroughTunnel(jobId: string, token: string, args: string[]): { status: number | null; stderr: string } {
  const env = { ...process.env, HOIST_TUNNEL: JSON.stringify({ host: "127.0.0.1", port: ready.dataPort, fingerprint: ready.fingerprint, jobId, token }) };
  const r = spawnSync("rsync", ["-e", `${process.execPath} ${HOIST_MJS} tunnel`, ...args], { env, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stderr: r.stderr };
}

const logLines = () => readFileSync(join(stateDir, "receiver.log"), "utf8").split("\n").filter(Boolean);

beforeAll(async () => {
  receiver = await startReceiverProcess(stateDir, { backend: "dir", logLevel: "error" });
  ready = receiver.ready;
  jobA = await newJob();
  jobB = await newJob();
});

afterAll(async () => {
  await receiver?.stop();
  rmSync(base, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe("receiver security", () => {
  it("keeps its secrets private on disk", () => {
    expect(readFileSync(join(stateDir, "receiver.json"), "utf8")).not.toContain(readFileSync(join(stateDir, "admin.token"), "utf8").trim());
    const jobFile = readFileSync(join(stateDir, "jobs", jobA.jobId, "job.json"), "utf8");
    expect(jobFile).not.toContain(jobA.token);
    expect(logLines().join("\n")).not.toContain(jobA.token);
  });

  it("refuses the control API without the right token", async () => {
    const path = `/v1/jobs/${jobA.jobId}`;
    for (const token of [undefined, "0".repeat(64), jobB.token]) {
      const res = await createControlClient({ ...endpoint(), ...(token ? { token } : {}) }).call<{ code: string }>("GET", path);
      expect(res.status).toBe(401);
      expect(res.body.code).toBe("Receiver.Unauthorized");
    }
    const create = await createControlClient({ ...endpoint(), token: jobA.token }).call<{ code: string }>("POST", "/v1/jobs", { plan: ONE_DISK_PLAN });
    expect(create.status).toBe(401);
    const ok = await createControlClient({ ...endpoint(), token: jobA.token }).call<{ jobId: string }>("GET", path);
    expect(ok.status).toBe(200);
    expect(ok.body.jobId).toBe(jobA.jobId);
    expect(logLines().some((l) => l.includes("control request refused"))).toBe(true);
    expect(logLines().join("\n")).not.toContain(jobB.token);
  });

  it("refuses data connections without the right token, with bad frames or other commands", async () => {
    const command = ["rsync", "--server", "--daemon", "."];
    expect(await header({ v: 1, jobId: jobA.jobId, token: "f".repeat(64), kind: "rsync", command })).toMatchObject({ ok: false, code: "Receiver.Unauthorized" });
    expect(await header({ v: 1, jobId: jobA.jobId, token: jobB.token, kind: "rsync", command })).toMatchObject({ ok: false, code: "Receiver.Unauthorized" });
    expect(await header({ hello: 1 })).toMatchObject({ ok: false, code: "Transport.BadFrame" });
    expect(await header({ v: 1, jobId: jobA.jobId, token: jobA.token, kind: "rsync", command: ["rsync", "--server", "-logDtpre.iLsfxCIvu", ".", "/etc"] })).toMatchObject({
      ok: false,
      code: "Receiver.BadRsyncArgs",
    });
    expect(await header({ v: 1, jobId: jobA.jobId, token: jobA.token, kind: "rsync", command })).toEqual({ ok: true });
    // A byte stream that claims a 1 GiB frame is refused.
    const socket = await connectPinned({ host: "127.0.0.1", port: ready.dataPort, fingerprint: ready.fingerprint });
    socket.write(Buffer.from([0x40, 0, 0, 0, 1, 2, 3]));
    expect((await readFrame(socket, { timeoutMs: 5000 })).value).toMatchObject({ ok: false, code: "Transport.BadFrame" });
    socket.destroy();
  });

  it("closes a data connection that sends nothing for 10 s", async () => {
    const socket = await connectPinned({ host: "127.0.0.1", port: ready.dataPort, fingerprint: ready.fingerprint });
    const t0 = Date.now();
    await new Promise((r) => socket.once("close", r));
    expect(Date.now() - t0).toBeGreaterThan(9_000);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it("a client with the wrong pinned fingerprint refuses the receiver and sends no token", async () => {
    const headersBefore = logLines().filter((l) => l.includes("header received")).length;
    const wrong = "ab".repeat(32);
    await expect(connectPinned({ host: "127.0.0.1", port: ready.dataPort, fingerprint: wrong })).rejects.toMatchObject({ code: "Transport.CertificateMismatch" });
    const src = join(base, "pin-src");
    mkdirSync(src);
    writeFileSync(join(src, "f"), "x");
    await expect(
      transferTree({ source: src, receiver: { host: "127.0.0.1", dataPort: ready.dataPort, fingerprint: wrong }, jobId: jobA.jobId, token: jobA.token, module: "system", streams: 1, tunnel: [process.execPath, HOIST_MJS, "tunnel"] }),
    ).rejects.toMatchObject({ code: "Transport.CertificateMismatch" });
    await expect(createControlClient({ ...endpoint(), fingerprint: wrong, token: jobA.token }).call("GET", `/v1/jobs/${jobA.jobId}`)).rejects.toMatchObject({ code: "Transport.CertificateMismatch" });
    await new Promise((r) => setTimeout(r, 500));
    expect(logLines().filter((l) => l.includes("header received")).length).toBe(headersBefore);
    expect(readdirSync(jobA.target)).toEqual([]);
    // Sanity: the same socket-level check passes with the right fingerprint.
    const plain = connect({ host: "127.0.0.1", port: ready.dataPort, rejectUnauthorized: false });
    await new Promise((r) => plain.once("secureConnect", r));
    expect(plain.getPeerCertificate().fingerprint256.replace(/:/g, "").toLowerCase()).toBe(ready.fingerprint);
    plain.destroy();
  });

  it("does not follow a symlink or `..` out of the target", async () => {
    const first = join(base, "esc-1");
    mkdirSync(first);
    symlinkSync(outside, join(first, "esc"));
    expect(rsyncThroughTunnel(jobA.jobId, jobA.token, ["-a", `${first}/`, "hoist::system/"]).status).toBe(0);
    const payload = join(base, "x");
    writeFileSync(payload, "escaped?\n");
    // Writing through the symlink that is now on the target.
    rsyncThroughTunnel(jobA.jobId, jobA.token, ["-a", payload, "hoist::system/esc/"]);
    rsyncThroughTunnel(jobA.jobId, jobA.token, ["-a", payload, "hoist::system/esc/x"]);
    // A tree whose "esc" is a folder holding "x", sent without --delete.
    const second = join(base, "esc-2");
    mkdirSync(join(second, "esc"), { recursive: true });
    writeFileSync(join(second, "esc", "x"), "escaped?\n");
    rsyncThroughTunnel(jobA.jobId, jobA.token, ["-a", `${second}/`, "hoist::system/"]);
    // Module paths that climb out.
    // Per-connection rsyncd configs come and go; everything else must stay as it was.
    const jobDirFiles = () => readdirSync(join(stateDir, "jobs", jobA.jobId)).filter((n) => !/^rsyncd-.*\.conf$/.test(n)).sort();
    const jobDirBefore = jobDirFiles();
    rsyncThroughTunnel(jobA.jobId, jobA.token, ["-a", payload, "hoist::system/../../"]);
    rsyncThroughTunnel(jobA.jobId, jobA.token, ["-a", payload, `hoist::system/../../../../../../../..${outside}/`]);
    expect(readdirSync(outside)).toEqual([]);
    expect(jobDirFiles()).toEqual(jobDirBefore);
    expect(readdirSync(join(stateDir, "jobs")).sort()).toEqual([jobA.jobId, jobB.jobId].sort());
  });

  it("job B's token cannot write into job A's disks", async () => {
    const src = join(base, "b-src");
    mkdirSync(src);
    writeFileSync(join(src, "from-b"), "b\n");
    const before = readdirSync(jobA.target).sort();
    const refused = rsyncThroughTunnel(jobA.jobId, jobB.token, ["-a", `${src}/`, "hoist::system/"]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain("Receiver.Unauthorized");
    expect(readdirSync(jobA.target).sort()).toEqual(before);
    // With its own job id it lands on its own disk only.
    expect(rsyncThroughTunnel(jobB.jobId, jobB.token, ["-a", `${src}/`, "hoist::system/"]).status).toBe(0);
    expect(readdirSync(jobB.target)).toEqual(["from-b"]);
    expect(readdirSync(jobA.target)).not.toContain("from-b");
  });

  it("a job's token is issued again only to the admin, and the old one stops working", async () => {
    const job = await newJob();
    const asJob = createControlClient({ ...endpoint(), token: job.token });
    await expect(asJob.json("POST", `/v1/jobs/${job.jobId}/token`)).rejects.toMatchObject({ code: "Receiver.Unauthorized" });
    const admin = createControlClient({ ...endpoint(), token: readFileSync(join(stateDir, "admin.token"), "utf8").trim() });
    const fresh = await admin.json<{ token: string }>("POST", `/v1/jobs/${job.jobId}/token`);
    expect(fresh.token).toMatch(/^[0-9a-f]{64}$/);
    expect(fresh.token).not.toBe(job.token);
    const src = join(base, "rotated-src");
    mkdirSync(src);
    writeFileSync(join(src, "rotated"), "r\n");
    const old = rsyncThroughTunnel(job.jobId, job.token, ["-a", `${src}/`, "hoist::system/"]);
    expect(old.status).not.toBe(0);
    expect(old.stderr).toContain("Receiver.Unauthorized");
    expect(rsyncThroughTunnel(job.jobId, fresh.token, ["-a", `${src}/`, "hoist::system/"]).status).toBe(0);
    expect(readdirSync(job.target)).toEqual(["rotated"]);
  });
});

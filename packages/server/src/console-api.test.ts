// What the web console needs from the server, against embedded PGlite and the
// local provider's image store: its files outside /v1 (and nothing else on
// disk), the event stream with its key check and client cap, and one image's
// details and delete.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ImageManifest } from "@hoist/protocol";
import { createLocalProvider } from "@hoist/providers";
import { silentLogger } from "@hoist/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startInProcessServer } from "../../../test/helpers/api-server";
import type { Database } from "./db/database";
import { inventoryFixture } from "./db/db-suite";
import type { RunningServer } from "./server";
import { createActivationCode } from "./store/activation-codes";
import { registerSource } from "./store/sources";

const KEY = "hk_console-api-tests-0123456789abcdefghij";
const base = mkdtempSync("/var/tmp/hoist-console-api-");
const store = join(base, "images");
const consoleDir = join(base, "console");
let db: Database;
let server: RunningServer;

async function call(method: string, path: string, auth: string | null = KEY): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, { method, headers: auth ? { authorization: `Bearer ${auth}` } : {} });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

type Ev = { event: string; data: unknown };

/** Reads a stream's events; `until` waits (up to 10 s) for one that `match` takes. */
function eventReader(res: Response) {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const events: Ev[] = [];
  let buf = "";
  return {
    events,
    async until(match: (e: Ev) => boolean): Promise<Ev> {
      const deadline = Date.now() + 10_000;
      for (let seen = 0; ; ) {
        for (; seen < events.length; seen++) if (match(events[seen] as Ev)) return events[seen] as Ev;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching event within 10 s; got ${events.map((e) => e.event).join(", ")}`);
        let timer: NodeJS.Timeout | undefined;
        const { value, done } = await Promise.race([
          reader.read(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error("no matching event within 10 s")), left);
          }),
        ]).finally(() => clearTimeout(timer));
        if (done) throw new Error("the stream ended");
        buf += decoder.decode(value, { stream: true });
        for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
        }
      }
    },
    close: () => reader.cancel(),
  };
}

function manifest(name: string): ImageManifest {
  return {
    name,
    region: "local",
    disks: [{ key: "system", file: "system.qcow2", format: "qcow2", virtualSizeBytes: 2 ** 30 }],
    bootMode: "bios",
    mounts: [],
    source: { os: "Debian GNU/Linux 12 (bookworm)", kernel: "6.1.0-18-amd64", usedBytes: 2 ** 29, systemDiskBytes: 2 ** 31 },
    conversion: { bootMode: "bios", steps: [{ name: "fstab", ok: true, diff: "--- a/etc/fstab\n+++ b/etc/fstab\n-/dev/vda1 / ext4\n+UUID=1 / ext4\n" }] },
    createdAt: new Date().toISOString(),
    verification: { status: "booted", bootSeconds: 71.5, consoleLog: "verify-console.log", reachedMultiUser: true, mountedAll: true },
  };
}

beforeAll(async () => {
  mkdirSync(consoleDir, { recursive: true });
  writeFileSync(join(consoleDir, "index.html"), "<!doctype html><title>Hoist</title>");
  writeFileSync(join(consoleDir, "app.js"), "console.log('hoist');");
  writeFileSync(join(base, "secret.txt"), "not for the web");
  const provider = createLocalProvider({ home: join(base, "home"), imageStore: store, logger: silentLogger });
  ({ db, server } = await startInProcessServer({ apiKey: KEY, provider, consoleDir, events: { maxClients: 2, pollMs: 200, heartbeatMs: 300 } }));
}, 60_000);

afterAll(async () => {
  await server?.close();
  await db?.close();
  rmSync(base, { recursive: true, force: true });
});

describe("the console's files", () => {
  it("serves the page at / and for any path without an extension, with a strict content policy", async () => {
    for (const path of ["/", "/jobs", "/index.html"]) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/html");
      expect(res.headers.get("content-security-policy")).toContain("default-src 'self'");
      expect(await res.text()).toContain("<title>Hoist</title>");
    }
    const js = await fetch(`${server.url}/app.js`);
    expect(js.headers.get("content-type")).toContain("text/javascript");
  });

  it("serves nothing outside its folder and keeps /v1 for the API", async () => {
    for (const path of ["/../secret.txt", "/%2e%2e/secret.txt", "/%2e%2e%2fsecret.txt", "/missing.js"]) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.text()).not.toContain("not for the web");
    }
    expect((await call("GET", "/v1/nothing-here")).body["code"]).toBe("Api.NotFound");
  });
});

describe("GET /v1/events", () => {
  it("needs the API key", async () => {
    expect(await call("GET", "/v1/events", null)).toMatchObject({ status: 401, body: { code: "Api.Unauthorized" } });
  });

  it("sends sources, jobs and images at once, then a source as soon as it is imported", async () => {
    const res = await fetch(`${server.url}/v1/events`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const stream = eventReader(res);
    try {
      await stream.until((e) => e.event === "images");
      expect(stream.events.map((e) => e.event).sort()).toEqual(["images", "jobs", "sources"]);
      expect(stream.events.find((e) => e.event === "sources")?.data).toMatchObject({ total: 0 });
      const code = await createActivationCode(db, { uses: 1, validityDays: 1, description: "" });
      await registerSource(db, { activationCode: code.code, name: "web-events", inventory: inventoryFixture("web-events"), heartbeatSeconds: 3600 });
      const next = await stream.until((e) => e.event === "sources" && (e.data as { total: number }).total === 1);
      expect((next.data as { sources: { name: string; state: string }[] }).sources).toEqual([expect.objectContaining({ name: "web-events", state: "Available" })]);
    } finally {
      await stream.close();
    }
  });

  it("refuses streams beyond its cap with a retryable code, and takes new ones once others close", async () => {
    const ctl = [new AbortController(), new AbortController()];
    const open = await Promise.all(ctl.map((c) => fetch(`${server.url}/v1/events`, { headers: { authorization: `Bearer ${KEY}` }, signal: c.signal })));
    expect(open.map((r) => r.status)).toEqual([200, 200]);
    const third = await call("GET", "/v1/events");
    expect(third).toMatchObject({ status: 500, body: { code: "Events.TooManyClients", retryable: true } });
    for (const c of ctl) c.abort();
    const res = await (async () => {
      for (let i = 0; i < 50; i++) {
        const r = await fetch(`${server.url}/v1/events`, { headers: { authorization: `Bearer ${KEY}` } });
        if (r.status === 200) return r;
        await r.text();
        await new Promise((ok) => setTimeout(ok, 100));
      }
      throw new Error("the closed streams were never let go");
    })();
    const stream = eventReader(res);
    await stream.until((e) => e.event === "jobs");
    await stream.close();
  });
});

describe("one image", () => {
  it("shows a job's image with its conversion report and boot log, and deletes it from the store and the list", async () => {
    mkdirSync(join(store, "web-done"), { recursive: true });
    writeFileSync(join(store, "web-done", "manifest.json"), JSON.stringify(manifest("web-done")));
    writeFileSync(join(store, "web-done", "system.qcow2"), "");
    writeFileSync(join(store, "web-done", "verify-console.log"), "Booting...\nReached target multi-user.target\n");
    await db.query("insert into job_images (job_id, image_name, region_id, run, verification, boot_seconds) values ('j-gone', 'web-done', 'local', 1, 'booted', 71.5)");

    const shown = await call("GET", "/v1/images/web-done");
    expect(shown.status, JSON.stringify(shown.body)).toBe(200);
    expect(shown.body).toMatchObject({ ImageName: "web-done", JobId: "j-gone", Verification: "booted", BootSeconds: 71.5 });
    const detail = shown.body["Detail"] as { consoleLog: string; conversion: { steps: { diff: string }[] } };
    expect(detail.consoleLog).toContain("Reached target multi-user.target");
    expect(detail.conversion.steps[0]?.diff).toContain("+UUID=1 / ext4");

    expect((await call("GET", "/v1/images/nope")).body["code"]).toBe("Image.NotFound");
    const deleted = await call("DELETE", "/v1/images/web-done");
    expect(deleted).toMatchObject({ status: 200, body: { ImageName: "web-done", Deleted: true } });
    expect((await call("GET", "/v1/images")).body["images"]).toEqual([]);
    expect(await createLocalProvider({ imageStore: store }).imageExists("web-done", "local")).toBe(false);
    expect((await call("DELETE", "/v1/images/web-done")).status).toBe(404);
  });

  it("lists the new endpoints in the OpenAPI document", async () => {
    const doc = (await call("GET", "/v1/openapi.json", null)).body as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths["/v1/images/{imageName}"] ?? {}).sort()).toEqual(["delete", "get"]);
    expect(doc.paths["/v1/events"]?.["get"]).toBeDefined();
    expect(doc.paths["/v1/images/{imageName}/check"]?.["post"]).toBeDefined();
  });
});

// The test hosts themselves: two namespaces on a veth pair, and proof that
// each way of spoiling the link really takes effect, measured with bounded
// transfers between small node programs on either side.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleScript } from "../helpers/hoist-hosts";
import { createTestNet, linkCounters, NETNS_PREFIX, type TestNet } from "../helpers/netns";

const base = mkdtempSync("/var/tmp/hoist-test-hosts-");
let net: TestNet;
let proxyScript: string;

// Listens on 5000; TCP: counts bytes until the sender ends, then prints them and the seconds taken.
// UDP on 5001: counts datagrams for 3 s after the first one. Echo on 5002.
const SINK = `
const net = require("node:net"), dgram = require("node:dgram");
net.createServer((s) => { let n = 0, t0 = 0; s.on("data", (c) => { if (!t0) t0 = Date.now(); n += c.length; }); s.on("end", () => { s.end(JSON.stringify({ bytes: n, seconds: (Date.now() - t0) / 1000 })); }); }).listen(5000);
const u = dgram.createSocket("udp4"); let got = 0, started = false;
u.on("message", () => { got++; if (!started) { started = true; setTimeout(() => { console.log(JSON.stringify({ datagrams: got })); }, 3000); } });
u.bind(5001);
net.createServer((s) => s.pipe(s)).listen(5002, () => console.log("ready"));
`;

function sendTcp(target: string, bytes: number, timeoutMs: number): { bytes: number; seconds: number } {
  const script = `const s = require("node:net").connect(5000, "${target}", () => { s.end(Buffer.alloc(${bytes}, 7)); }); let out = ""; s.on("data", (c) => out += c); s.on("end", () => { console.log(out); });`;
  return JSON.parse(net.run(net.a, process.execPath, ["-e", script], timeoutMs).trim());
}

function sendUdp(target: string, count: number): void {
  const script = `const u = require("node:dgram").createSocket("udp4"); let i = 0; const tick = () => { if (i >= ${count}) return u.close(); u.send(Buffer.alloc(100), 5001, "${target}", () => { i++; setImmediate(tick); }); }; tick();`;
  net.run(net.a, process.execPath, ["-e", script], 20_000);
}

/** True when a TCP connection from a to b's port opens within `ms`. */
function connects(target: string, port: number, ms: number): boolean {
  const script = `const s = require("node:net").connect(${port}, "${target}", () => { console.log("open"); process.exit(0); }); s.on("error", () => process.exit(2)); setTimeout(() => process.exit(3), ${ms});`;
  return spawnSync("ip", ["netns", "exec", net.a.ns, process.execPath, "-e", script], { encoding: "utf8", timeout: ms + 5000 }).stdout.includes("open");
}

beforeAll(async () => {
  proxyScript = await bundleScript("delay-proxy-main.ts", join(base, "delay-proxy.mjs"));
  net = createTestNet("a", "b");
});

afterAll(() => {
  net?.destroy();
  rmSync(base, { recursive: true, force: true });
});

describe("test hosts", () => {
  it("are separate namespaces that reach each other only over their link", async () => {
    const sink = net.spawn(net.b, process.execPath, ["-e", SINK], { stdio: ["ignore", "pipe", "inherit"] });
    const lines = createInterface({ input: sink.stdout! });
    await new Promise((r) => lines.once("line", r));
    try {
      expect(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout).toContain(net.a.ns);
      expect(net.run(net.a, "ip", ["-o", "link"])).not.toContain(net.b.device);
      expect(connects(net.b.address, 5002, 3000)).toBe(true);
      // Not from the root namespace: it has no route to the link.
      expect(spawnSync("ip", ["route", "get", net.b.address], { encoding: "utf8" }).stdout).not.toContain(net.b.device);

      // Rate: 1.5 MB at 4 Mbit/s takes about 3 s; unshaped it takes a blink.
      const free = sendTcp(net.b.address, 1_500_000, 30_000);
      expect(free.bytes).toBe(1_500_000);
      expect(free.seconds).toBeLessThan(1);
      net.shape({ rateKbit: 4000 });
      const slow = sendTcp(net.b.address, 1_500_000, 30_000);
      expect(slow.bytes).toBe(1_500_000);
      expect(slow.seconds).toBeGreaterThan(2.2);
      expect(slow.seconds).toBeLessThan(6);

      // Loss: 30% of 1,000 datagrams vanish (binomial: 5σ ≈ 72).
      net.shape({ lossPercent: 30 });
      const datagrams = new Promise<number>((r) => lines.once("line", (l) => r((JSON.parse(l) as { datagrams: number }).datagrams)));
      const before = linkCounters(net, net.b).rx;
      sendUdp(net.b.address, 1000);
      const got = await datagrams;
      expect(got).toBeGreaterThan(1000 * 0.7 - 80);
      expect(got).toBeLessThan(1000 * 0.7 + 80);
      // The dropped ones did reach the link: they were dropped by the rule, not lost before it.
      expect(linkCounters(net, net.b).rx - before).toBeGreaterThanOrEqual(1000 * 100);
      net.shape({});

      // Cut: silence, no error; restored: connects again.
      net.cut();
      const t0 = Date.now();
      expect(connects(net.b.address, 5002, 2000)).toBe(false);
      expect(Date.now() - t0).toBeGreaterThan(1800);
      net.restore();
      expect(connects(net.b.address, 5002, 3000)).toBe(true);
      net.down();
      expect(connects(net.b.address, 5002, 2000)).toBe(false);
      net.restore();
      expect(connects(net.b.address, 5002, 5000)).toBe(true);
    } finally {
      sink.kill("SIGKILL");
    }
  });

  it("the delaying proxy adds latency each way and stalls on request", async () => {
    const echo = net.spawn(net.b, process.execPath, ["-e", SINK], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise((r) => createInterface({ input: echo.stdout! }).once("line", r));
    const proxy = net.spawn(net.a, process.execPath, [proxyScript, "127.0.0.1", "0", net.b.address, "5002", "150"], { stdio: ["pipe", "pipe", "inherit"] });
    try {
      const port = (JSON.parse(await new Promise<string>((r) => createInterface({ input: proxy.stdout! }).once("line", r))) as { port: number }).port;
      // Five echoes through the proxy, timed one by one.
      const script = `const s = require("node:net").connect(${port}, "127.0.0.1"); const times = []; let t = 0;
const ping = () => { t = Date.now(); s.write("x"); };
s.on("connect", ping); s.on("data", () => { times.push(Date.now() - t); if (times.length === 5) { console.log(JSON.stringify(times)); s.destroy(); } else ping(); });`;
      const times = JSON.parse(net.run(net.a, process.execPath, ["-e", script], 20_000).trim()) as number[];
      for (const ms of times) {
        expect(ms).toBeGreaterThanOrEqual(295);
        expect(ms).toBeLessThan(800);
      }
      proxy.stdin!.write(`${JSON.stringify({ delayMs: 0, stallMs: 1500 })}\n`);
      await new Promise((r) => setTimeout(r, 100));
      const stalled = JSON.parse(net.run(net.a, process.execPath, ["-e", script], 20_000).trim()) as number[];
      expect(stalled[0]).toBeGreaterThan(1000);
      expect(stalled.at(-1)).toBeLessThan(200);
    } finally {
      proxy.kill("SIGKILL");
      echo.kill("SIGKILL");
    }
  });

  it("a net is deleted with all it made, and a stale one is swept", () => {
    const other = createTestNet("x", "y");
    const names = [other.a.ns, other.b.ns];
    other.destroy();
    const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
    for (const n of names) expect(list).not.toContain(n);
    expect(spawnSync("ip", ["-o", "link"], { encoding: "utf8" }).stdout).not.toContain(`ht${other.id}`);
    // A namespace left by a process that died is removed by the next net made.
    const stale = `${NETNS_PREFIX}-999999999-dead00-x`;
    spawnSync("ip", ["netns", "add", stale]);
    const next = createTestNet("p", "q");
    next.destroy();
    expect(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout).not.toContain(stale);
  });
});

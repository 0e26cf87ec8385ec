// The delaying proxy as its own process, so it can run inside a test host's
// namespace: `node delay-proxy.mjs LISTEN_HOST LISTEN_PORT TARGET_HOST
// TARGET_PORT DELAY_MS`. It prints {"port":N} when listening and takes JSON
// lines on stdin: {"delayMs":N}, {"stallMs":N}, {"stats":true}.
import { createInterface } from "node:readline";
import { startDelayProxy } from "./delay-proxy";

const [listenHost = "127.0.0.1", listenPort = "0", targetHost = "", targetPort = "0", delayMs = "0"] = process.argv.slice(2);
const proxy = await startDelayProxy({ listenHost, listenPort: Number(listenPort), targetHost, targetPort: Number(targetPort), delayMs: Number(delayMs) });
process.stdout.write(`${JSON.stringify({ port: proxy.port })}\n`);
createInterface({ input: process.stdin }).on("line", (line) => {
  const msg = JSON.parse(line) as { delayMs?: number; stallMs?: number; stats?: boolean };
  if (msg.delayMs !== undefined) proxy.setDelay(msg.delayMs);
  if (msg.stallMs !== undefined) proxy.stall(msg.stallMs);
  if (msg.stats) process.stdout.write(`${JSON.stringify(proxy.stats())}\n`);
});
process.stdin.once("end", () => {
  void proxy.close().then(() => process.exit(0));
});

// The floor for bench/api-agents: a plain node:http server that reads each
// request's body and answers with a constant JSON body, the same bytes and
// status hoist server gave for that endpoint earlier in the run (no database,
// no auth, no validation): what the HTTP stack alone costs.
// usage: node bare-http.mjs REPLIES.json   (prints {"event":"ready","url":…,"pid":…})
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

/** @type {Record<string, { status: number; body: string }>} keyed "METHOD /path" */
const replies = JSON.parse(readFileSync(process.argv[2] ?? "", "utf8"));
const fallback = { status: 200, body: '{"ok":true}' };

const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    const path = (req.url ?? "/").split("?")[0];
    const reply = replies[`${req.method} ${path}`] ?? fallback;
    res.writeHead(reply.status, { "content-type": "application/json", "content-length": Buffer.byteLength(reply.body), "cache-control": "no-store" });
    res.end(reply.body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ event: "ready", url: `http://127.0.0.1:${port}`, pid: process.pid })}\n`);
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);

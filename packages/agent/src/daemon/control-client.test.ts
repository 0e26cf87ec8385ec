import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { ControlPlaneClient } from "./control-client";

const server: Server = createServer((_req, res) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.end('{"ok":true}');
});
const listen = (port: number) => new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
const close = () =>
  new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

afterAll(async () => {
  if (server.listening) await close();
});

describe("control-plane client", () => {
  it("tells its listeners once when the server answers again after it could not be reached", async () => {
    await listen(0);
    const port = (server.address() as AddressInfo).port;
    const client = new ControlPlaneClient({ server: `http://127.0.0.1:${port}`, timeoutMs: 5000 });
    let calls = 0;
    const unsubscribe = client.onReachable(() => calls++);
    await client.request("GET", "/v1/x");
    expect(calls).toBe(0);

    await close();
    await expect(client.request("GET", "/v1/x")).rejects.toMatchObject({ code: "Server.Unreachable", retryable: true });
    await expect(client.request("GET", "/v1/x")).rejects.toMatchObject({ code: "Server.Unreachable" });
    expect(calls).toBe(0);

    await listen(port);
    expect(await client.request("GET", "/v1/x")).toEqual({ ok: true });
    expect(calls).toBe(1);
    await client.request("GET", "/v1/x");
    expect(calls).toBe(1);

    unsubscribe();
    await close();
    await expect(client.request("GET", "/v1/x")).rejects.toMatchObject({ code: "Server.Unreachable" });
    await listen(port);
    await client.request("GET", "/v1/x");
    expect(calls).toBe(1);
  });
});

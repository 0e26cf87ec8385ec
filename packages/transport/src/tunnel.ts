// rsync's remote shell: rsync starts it as `<rsh> [-l user] HOST rsync --server
// --daemon .` and talks the daemon protocol over its stdin/stdout. The tunnel
// carries those bytes over pinned TLS to the receiver's data port, after a
// header frame that names the job and carries its token.
import type { Readable, Writable } from "node:stream";
import { DataReplySchema, HoistError, TunnelEnvSchema, type TunnelEnv } from "@hoist/protocol";
import { encodeFrame, readFrame } from "./frame";
import { connectPinned } from "./pinned-tls";

export const TUNNEL_ENV = "HOIST_TUNNEL";

/** Drops the `-l user` and host arguments rsync puts before the remote command. */
export function remoteCommandFromRshArgs(args: readonly string[]): string[] {
  const rest = [...args];
  while (rest.length && rest[0] !== "rsync") {
    if (rest[0] === "-l") rest.splice(0, 2);
    else rest.shift();
  }
  return rest;
}

export function parseTunnelEnv(raw: string | undefined): TunnelEnv {
  if (!raw) throw new HoistError("Transport.NoTunnelConfig", `${TUNNEL_ENV} is not set`, { fix: "The tunnel is started by the transfer engine; do not run it by hand." });
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new HoistError("Transport.NoTunnelConfig", `${TUNNEL_ENV} is not JSON`);
  }
  const parsed = TunnelEnvSchema.safeParse(value);
  if (!parsed.success) throw new HoistError("Transport.NoTunnelConfig", `${TUNNEL_ENV} is incomplete: ${parsed.error.issues.map((i) => i.path.join(".")).join(", ")}`);
  return parsed.data;
}

export interface TunnelOptions {
  env: TunnelEnv;
  command: string[];
  input: Readable;
  output: Writable;
}

/** Resolves when both directions are closed. */
export async function runTunnel(options: TunnelOptions): Promise<void> {
  const { env } = options;
  const socket = await connectPinned({ host: env.host, port: env.port, fingerprint: env.fingerprint });
  socket.write(encodeFrame({ v: 1, jobId: env.jobId, token: env.token, kind: "rsync", command: options.command }));
  const { value, rest } = await readFrame(socket, { timeoutMs: 30_000 });
  const reply = DataReplySchema.safeParse(value);
  if (!reply.success) {
    socket.destroy();
    throw new HoistError("Transport.BadFrame", "the receiver answered the header with an unknown message");
  }
  if (!reply.data.ok) {
    socket.destroy();
    throw new HoistError(reply.data.code, reply.data.message, { retryable: reply.data.code === "Transport.Timeout" });
  }
  if (rest.length) options.output.write(rest);
  await new Promise<void>((resolve) => {
    let open = 2;
    const done = () => {
      open -= 1;
      if (open === 0) resolve();
    };
    // Receiver → rsync: when the receiver closes, rsync sees EOF.
    socket.on("data", (c: Buffer) => {
      if (!options.output.write(c)) {
        socket.pause();
        options.output.once("drain", () => socket.resume());
      }
    });
    socket.once("close", () => {
      options.output.end();
      done();
      // rsync may still hold our stdin open; nothing more can travel anyway.
      if (open > 0) {
        options.input.destroy();
        done();
      }
    });
    socket.on("error", () => {});
    options.output.on("error", () => socket.destroy());
    // rsync → receiver: half-close so the receiver's rsync sees EOF.
    options.input.on("data", (c: Buffer) => {
      if (!socket.write(c)) {
        options.input.pause();
        socket.once("drain", () => options.input.resume());
      }
    });
    options.input.once("end", () => {
      socket.end();
    });
    options.input.on("error", () => socket.destroy());
    socket.resume();
  });
}

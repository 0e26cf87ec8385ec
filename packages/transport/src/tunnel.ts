// rsync's remote shell: rsync starts it as `<rsh> [-l user] HOST rsync --server
// --daemon .` and talks the daemon protocol over its stdin/stdout. The tunnel
// carries those bytes over pinned TLS to the receiver's data port, after a
// header frame that names the job and carries its token.
import { fstatSync } from "node:fs";
import { Socket, type SocketConstructorOpts } from "node:net";
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
  /** rsync's end of the pipe; defaults to this process's stdin. */
  input?: Readable;
  /** Where the receiver's bytes go; defaults to this process's stdout. */
  output?: Writable;
}

/** Large enough that a burst of rsync output is one TLS write, not a pause per 16 KiB. */
const HIGH_WATER_MARK = 1024 * 1024;
const READ_BUFFER_BYTES = 256 * 1024;

function isPipeOrSocket(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

/**
 * Forwards `fd` (rsync's output) into `sink`. Reading into one reused buffer
 * spares a fresh 64 KiB allocation per read and the garbage collection that
 * follows, which is most of what a relay costs beyond the copy itself. A chunk
 * is only copied when the sink has to queue it; otherwise TLS encrypts it
 * before write() returns, so the buffer is free again.
 */
function forwardFd(fd: number, sink: Writable, onEnd: () => void): Socket {
  const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  const options = {
    fd,
    readable: true,
    writable: false,
    onread: {
      buffer,
      callback: (n: number, buf: Uint8Array) => {
        const view = Buffer.from(buf.buffer, buf.byteOffset, n);
        const chunk = sink.writableLength > 0 ? Buffer.from(view) : view;
        if (!sink.write(chunk)) {
          source.pause();
          sink.once("drain", () => source.resume());
        }
        return true;
      },
    },
  };
  // @types/node leaves out `onread` here, though the constructor honours it.
  const source = new Socket(options as SocketConstructorOpts);
  source.once("end", onEnd);
  return source;
}

function forwardStream(source: Readable, sink: Writable, onEnd: () => void): Readable {
  source.on("data", (c: Buffer) => {
    if (!sink.write(c)) {
      source.pause();
      sink.once("drain", () => source.resume());
    }
  });
  source.once("end", onEnd);
  return source;
}

/**
 * rsync signals its remote shell with SIGUSR1 when it gives up on a copy. Node's
 * default for that signal is to open its debugger on 127.0.0.1:9229, which on a
 * source server would let any local user run code as the agent (and read the job
 * token), and leaves the tunnel running. The tunnel process ends instead.
 */
export function endOnRsyncCleanupSignal(): void {
  process.on("SIGUSR1", () => process.exit(1));
}

/** Resolves when both directions are closed. */
export async function runTunnel(options: TunnelOptions): Promise<void> {
  const { env } = options;
  const socket = await connectPinned({ host: env.host, port: env.port, fingerprint: env.fingerprint, highWaterMark: HIGH_WATER_MARK });
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
  const output = options.output ?? (isPipeOrSocket(1) ? new Socket({ fd: 1, readable: false, writable: true, highWaterMark: HIGH_WATER_MARK } as SocketConstructorOpts) : process.stdout);
  if (rest.length) output.write(rest);
  await new Promise<void>((resolve) => {
    let open = 2;
    const done = () => {
      open -= 1;
      if (open === 0) resolve();
    };
    // Receiver → rsync: when the receiver closes, rsync sees EOF.
    forwardStream(socket, output, () => {});
    // rsync → receiver: half-close so the receiver's rsync sees EOF.
    const input: Readable = options.input ? forwardStream(options.input, socket, () => socket.end()) : isPipeOrSocket(0) ? forwardFd(0, socket, () => socket.end()) : forwardStream(process.stdin, socket, () => socket.end());
    socket.once("close", () => {
      output.end();
      done();
      // rsync may still hold our stdin open; nothing more can travel anyway.
      if (open > 0) {
        input.destroy();
        done();
      }
    });
    socket.on("error", () => {});
    output.on("error", () => socket.destroy());
    input.on("error", () => socket.destroy());
    input.resume();
    socket.resume();
  });
}

// A TCP proxy that adds latency and stalls, for links this kernel cannot
// delay itself (it has no netem). Every chunk is held for `delayMs` in each
// direction, in order; a stall holds everything for a while, as a congested
// or rerouted path does. Queues are bounded, so a fast sender is paused
// instead of buffered without end.
import { createServer, type Server, type Socket, connect } from "node:net";

export interface DelayProxyOptions {
  /** Where to listen (host, port 0 for any free port). */
  listenHost?: string;
  listenPort?: number;
  targetHost: string;
  targetPort: number;
  /** Added one-way latency in each direction. */
  delayMs: number;
  /** Bytes held per direction before the sender is paused (default 4 MiB). */
  maxQueuedBytes?: number;
}

export interface DelayProxy {
  port: number;
  setDelay(ms: number): void;
  /** Holds all traffic for `ms` from now (on top of the delay). */
  stall(ms: number): void;
  /** Bytes forwarded client→target and target→client so far. */
  stats(): { up: number; down: number; connections: number };
  close(): Promise<void>;
}

interface Pending {
  due: number;
  chunk: Buffer | null;
}

/** One direction of one connection: from `source` to `sink`, each chunk released no earlier than its due time. */
function delayedPipe(source: Socket, sink: Socket, state: { delayMs: number; stalledUntil: number; maxQueued: number }, count: (n: number) => void): void {
  const queue: Pending[] = [];
  let queued = 0;
  let timer: NodeJS.Timeout | undefined;
  let paused = false;
  const pump = () => {
    timer = undefined;
    const now = Date.now();
    while (queue.length) {
      const head = queue[0]!;
      const releaseAt = Math.max(head.due, state.stalledUntil);
      if (releaseAt > now) {
        timer = setTimeout(pump, releaseAt - now);
        return;
      }
      queue.shift();
      if (head.chunk === null) {
        sink.end();
        return;
      }
      queued -= head.chunk.length;
      count(head.chunk.length);
      if (!sink.destroyed) sink.write(head.chunk);
    }
    if (paused && queued < state.maxQueued / 2) {
      paused = false;
      source.resume();
    }
  };
  const push = (chunk: Buffer | null) => {
    queue.push({ due: Date.now() + state.delayMs, chunk });
    if (chunk) queued += chunk.length;
    if (!paused && queued > state.maxQueued) {
      paused = true;
      source.pause();
    }
    if (!timer) timer = setTimeout(pump, 0);
  };
  source.on("data", (c: Buffer) => push(c));
  source.once("end", () => push(null));
  const stop = () => {
    if (timer) clearTimeout(timer);
    queue.length = 0;
  };
  source.once("close", () => {
    // An abrupt close (reset) ends the other side too, once what was in flight has gone.
    if (source.errored) {
      stop();
      sink.destroy();
    }
  });
  sink.once("close", stop);
}

export function startDelayProxy(options: DelayProxyOptions): Promise<DelayProxy> {
  const state = { delayMs: options.delayMs, stalledUntil: 0, maxQueued: options.maxQueuedBytes ?? 4 * 2 ** 20 };
  const totals = { up: 0, down: 0, connections: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    totals.connections += 1;
    const target = connect({ host: options.targetHost, port: options.targetPort });
    for (const s of [client, target]) {
      sockets.add(s);
      s.on("error", () => {});
      s.once("close", () => sockets.delete(s));
      s.setNoDelay(true);
    }
    delayedPipe(client, target, state, (n) => {
      totals.up += n;
    });
    delayedPipe(target, client, state, (n) => {
      totals.down += n;
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.listenPort ?? 0, options.listenHost ?? "127.0.0.1", () => {
      const addr = server.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      resolve({
        port,
        setDelay(ms) {
          state.delayMs = ms;
        },
        stall(ms) {
          state.stalledUntil = Math.max(state.stalledUntil, Date.now() + ms);
        },
        stats: () => ({ ...totals }),
        close() {
          for (const s of sockets) s.destroy();
          return new Promise<void>((r) => server.close(() => r()));
        },
      });
    });
  });
}

// Live updates for the console: GET /v1/events is a server-sent event stream
// of what the list endpoints answer (sources, jobs, images), sent when it
// changes. One poll of the database serves every connected client, and it
// runs only while someone listens; the database is the only source of truth,
// so changes made by another replica show up too. Clients are capped, and a
// comment line goes out regularly so proxies keep the stream open and dead
// connections are noticed.
import type { ServerResponse } from "node:http";
import { HoistError } from "@hoist/protocol";
import type { Logger } from "@hoist/runtime";
import type { Database } from "../db/database";
import { listImages, listJobs } from "../jobs/store";
import { listSources } from "../store/sources";

export interface EventHubOptions {
  /** Most streams open at once (default 50). */
  maxClients?: number;
  /** How often the database is read while clients listen (default 1000 ms). */
  pollMs?: number;
  /** How often a keep-alive comment is sent (default 15 s). */
  heartbeatMs?: number;
}

/** The kinds of event, each carrying the body its list endpoint answers. */
export const EVENT_KINDS = ["sources", "jobs", "images"] as const;
type EventKind = (typeof EVENT_KINDS)[number];

/** Lists are capped as the endpoints' largest page. */
const PAGE = 1000;

export class EventHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly last = new Map<EventKind, string>();
  private timer: NodeJS.Timeout | null = null;
  private beat: NodeJS.Timeout | null = null;
  private polling = false;
  private nextId = 1;
  private readonly maxClients: number;
  private readonly pollMs: number;
  private readonly heartbeatMs: number;

  constructor(
    private readonly db: Database,
    private readonly log: Logger,
    opts: EventHubOptions = {},
  ) {
    this.maxClients = opts.maxClients ?? 50;
    this.pollMs = opts.pollMs ?? 1000;
    this.heartbeatMs = opts.heartbeatMs ?? 15_000;
  }

  get size(): number {
    return this.clients.size;
  }

  /** Takes over `res` as an event stream, or throws Events.TooManyClients. */
  open(res: ServerResponse): void {
    if (this.clients.size >= this.maxClients) {
      throw new HoistError("Events.TooManyClients", `this server already streams events to ${this.maxClients} clients`, {
        retryable: true,
        fix: "Close other console tabs, or poll the list endpoints instead; try again later.",
      });
    }
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    res.write(`retry: 2000\n: connected\n\n`);
    this.clients.add(res);
    const drop = () => this.drop(res);
    res.on("close", drop);
    res.on("error", drop);
    // What the others already have, the newcomer gets at once.
    for (const [kind, data] of this.last) this.write(res, kind, data);
    this.ensureRunning();
    if (this.last.size < EVENT_KINDS.length) void this.poll();
  }

  close(): void {
    for (const res of this.clients) res.end();
    this.clients.clear();
    this.stop();
  }

  private drop(res: ServerResponse): void {
    this.clients.delete(res);
    if (this.clients.size === 0) this.stop();
  }

  private ensureRunning(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.poll(), this.pollMs);
    this.beat = setInterval(() => {
      for (const res of this.clients) res.write(`: keep-alive ${new Date().toISOString()}\n\n`);
    }, this.heartbeatMs);
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.beat) clearInterval(this.beat);
    this.timer = null;
    this.beat = null;
    // Nobody listens: the next client starts from a fresh read.
    this.last.clear();
  }

  private write(res: ServerResponse, kind: EventKind, data: string): void {
    res.write(`id: ${this.nextId++}\nevent: ${kind}\ndata: ${data}\n\n`);
  }

  private async poll(): Promise<void> {
    if (this.polling || this.clients.size === 0) return;
    this.polling = true;
    try {
      const [sources, jobs, images] = await Promise.all([
        listSources(this.db, { limit: PAGE, offset: 0 }),
        listJobs(this.db, { limit: PAGE, offset: 0 }),
        listImages(this.db).then((list) => ({ images: list })),
      ]);
      const now: [EventKind, unknown][] = [
        ["sources", sources],
        ["jobs", jobs],
        ["images", images],
      ];
      for (const [kind, body] of now) {
        const data = JSON.stringify(body);
        if (this.last.get(kind) === data) continue;
        this.last.set(kind, data);
        for (const res of this.clients) this.write(res, kind, data);
      }
    } catch (e) {
      this.log.warn("event poll failed", { error: e instanceof Error ? e.message : String(e) });
    } finally {
      this.polling = false;
    }
  }
}

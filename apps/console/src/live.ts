// Keeps the console's copy of sources, jobs and images current: the server's
// event stream (GET /v1/events, read with fetch so the API key travels in a
// header, not the URL) and, while the stream is down, polling the list
// endpoints every few seconds until the stream can be opened again.
import type { ReplicationJob, SourceServer } from "@hoist/protocol";
import { api, apiKey, type JobImageRow } from "./api";

export interface Snapshot {
  sources: SourceServer[] | null;
  jobs: ReplicationJob[] | null;
  images: JobImageRow[] | null;
  /** "live" (event stream), "polling" (fallback) or "offline" (neither answers). */
  link: "connecting" | "live" | "polling" | "offline";
  error: string | null;
}

type Listener = (s: Snapshot) => void;

const POLL_MS = 3000;
const RETRY_STREAM_MS = 15_000;

export class LiveData {
  readonly state: Snapshot = { sources: null, jobs: null, images: null, link: "connecting", error: null };
  private readonly listeners = new Set<Listener>();
  private abort: AbortController | null = null;
  private pollTimer: number | null = null;
  private retryTimer: number | null = null;
  private stopped = true;

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.openStream();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.pollTimer = this.retryTimer = null;
    Object.assign(this.state, { sources: null, jobs: null, images: null, link: "connecting", error: null });
  }

  /** Reads the lists once now (after an action, so the page shows its effect at once). */
  async refresh(): Promise<void> {
    try {
      const [s, j, i] = await Promise.all([api.sources(), api.jobs(), api.images()]);
      this.update({ sources: s.sources, jobs: j.jobs, images: i.images, error: null, ...(this.state.link === "offline" ? { link: "polling" as const } : {}) });
    } catch (e) {
      this.update({ error: e instanceof Error ? e.message : String(e), ...(this.state.link === "polling" ? { link: "offline" as const } : {}) });
    }
  }

  private update(part: Partial<Snapshot>): void {
    Object.assign(this.state, part);
    for (const fn of this.listeners) fn(this.state);
  }

  private async openStream(): Promise<void> {
    if (this.stopped) return;
    const ctl = new AbortController();
    this.abort = ctl;
    try {
      const res = await fetch("/v1/events", { headers: { authorization: `Bearer ${apiKey.get() ?? ""}` }, signal: ctl.signal });
      if (!res.ok || !res.body) throw new Error(`the event stream answered ${res.status}`);
      this.stopPolling();
      this.update({ link: "live", error: null });
      await this.read(res.body);
      throw new Error("the event stream ended");
    } catch (e) {
      if (this.stopped || ctl.signal.aborted) return;
      this.update({ link: "polling", error: null });
      this.startPolling();
      this.retryTimer = window.setTimeout(() => void this.openStream(), RETRY_STREAM_MS);
      console.warn("live updates fall back to polling:", e);
    }
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = "message";
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data.push(line.slice(6));
        }
        if (data.length) this.onEvent(event, JSON.parse(data.join("\n")) as Record<string, unknown>);
      }
    }
  }

  private onEvent(event: string, body: Record<string, unknown>): void {
    if (event === "sources") this.update({ sources: body["sources"] as SourceServer[] });
    else if (event === "jobs") this.update({ jobs: body["jobs"] as ReplicationJob[] });
    else if (event === "images") this.update({ images: body["images"] as JobImageRow[] });
  }

  private startPolling(): void {
    if (this.pollTimer !== null) return;
    void this.refresh();
    this.pollTimer = window.setInterval(() => void this.refresh(), POLL_MS);
  }

  private stopPolling(): void {
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }
}

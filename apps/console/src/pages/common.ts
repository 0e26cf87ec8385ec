// Pieces every page uses: status badges, error boxes with code and fix, empty
// states, and running an action with its outcome announced.
import { ApiError } from "../api";
import { announce, h } from "../dom";

const TONES: Record<string, string> = {
  Available: "ok",
  Finished: "ok",
  booted: "ok",
  Running: "busy",
  InUse: "busy",
  Waiting: "info",
  Ready: "info",
  Stopped: "warn",
  skipped: "warn",
  Unavailable: "bad",
  InError: "bad",
  failed: "bad",
  Expired: "muted",
  Deleting: "muted",
  done: "ok",
  Critical: "bad",
  Warning: "warn",
};

export function badge(text: string, title?: string): HTMLElement {
  return h("span", { class: `badge tone-${TONES[text] ?? "muted"}`, title }, text);
}

export function errorBox(code: string, message: string, fix?: string | null): HTMLElement {
  return h("div", { class: "error-box", role: "alert" }, h("strong", { class: "code" }, code), " ", message, fix ? h("p", { class: "fix" }, h("span", { class: "fix-label" }, "Fix: "), fix) : null);
}

export function errorFrom(e: unknown): HTMLElement {
  if (e instanceof ApiError) return errorBox(e.code, e.message, e.fix);
  return errorBox("Console.Error", e instanceof Error ? e.message : String(e));
}

export function empty(title: string, text: string, action?: Node): HTMLElement {
  return h("div", { class: "empty" }, h("p", { class: "empty-title" }, title), h("p", {}, text), action ?? null);
}

export function loading(what: string): HTMLElement {
  return h("p", { class: "loading", role: "status" }, `Loading ${what}…`);
}

/** Runs an API action from a button: disables it meanwhile, announces the outcome. */
export async function act(button: HTMLButtonElement | null, done: string, fn: () => Promise<unknown>): Promise<boolean> {
  if (button) button.disabled = true;
  try {
    await fn();
    announce(done);
    return true;
  } catch (e) {
    announce(e instanceof ApiError ? `${e.code}: ${e.message}${e.fix ? ` — ${e.fix}` : ""}` : String(e), "error");
    return false;
  } finally {
    if (button?.isConnected) button.disabled = false;
  }
}

export function pageHeader(title: string, ...extra: Node[]): HTMLElement {
  return h("div", { class: "page-head" }, h("h1", { tabindex: -1, id: "page-title" }, title), h("div", { class: "page-actions" }, ...extra));
}

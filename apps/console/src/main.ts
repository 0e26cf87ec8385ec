/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The web console of hoist server: one page, routed by #hash, on the
// control plane's API only. Sign-in is the API key, kept for this tab in
// sessionStorage; the lists stay current through the server's event stream.
import { ApiError, apiKey, request, whenUnauthorized } from "./api";
import { fill, h } from "./dom";
import { LiveData } from "./live";
import { errorBox } from "./pages/common";
import { renderImage, renderImages } from "./pages/images";
import { renderJobs } from "./pages/jobs";
import { renderMigrate } from "./pages/migrate";
import { renderSources } from "./pages/sources";

const live = new LiveData();
const app = document.getElementById("app") as HTMLElement;

const NAV: [string, string][] = [
  ["#/sources", "Sources"],
  ["#/jobs", "Jobs"],
  ["#/images", "Images"],
];

function go(hash: string): void {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function linkBadge(): HTMLElement {
  const el = h("span", { class: "link-state", role: "status", "aria-live": "polite" });
  const draw = () => {
    const s = live.state.link;
    el.className = `link-state link-${s}`;
    el.textContent = s === "live" ? "Live" : s === "polling" ? "Polling" : s === "offline" ? "Server unreachable" : "Connecting…";
    el.title = s === "live" ? "Updates arrive as they happen" : s === "polling" ? "The event stream is down; the lists are read every few seconds" : "";
  };
  draw();
  live.subscribe(draw);
  return el;
}

let main: HTMLElement | null = null;
let nav: HTMLElement | null = null;

function shell(): void {
  main = h("main", { id: "main", tabindex: -1 });
  nav = h("nav", { "aria-label": "Console" }, h("ul", {}, NAV.map(([href, label]) => h("li", {}, h("a", { href }, label)))));
  const signOut = h("button", { type: "button", class: "link" }, "Sign out");
  signOut.addEventListener("click", () => {
    apiKey.clear();
    live.stop();
    login();
  });
  fill(
    app,
    h(
      "a",
      {
        href: "#main",
        class: "skip",
        onclick: (e: Event) => {
          e.preventDefault();
          main?.focus();
        },
      },
      "Skip to content",
    ),
    h("header", { class: "top" }, h("a", { href: "#/sources", class: "brand" }, "Hoist"), nav, h("div", { class: "top-right" }, linkBadge(), signOut)),
    main,
    h("div", { id: "toasts", class: "toasts", "aria-live": "polite" }),
  );
}

function route(): void {
  if (!main || !nav) return;
  main.dispatchEvent(new Event("page:leave"));
  const fresh = h("main", { id: "main", tabindex: -1 });
  main.replaceWith(fresh);
  main = fresh;
  const [path = "", query = ""] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query);
  for (const a of nav.querySelectorAll("a")) {
    if (a.getAttribute("href") === `#/${parts[0] ?? "sources"}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const page = parts[0] ?? "sources";
  if (page === "sources") renderSources(main, live, go);
  else if (page === "migrate" && parts[1]) renderMigrate(main, live, parts[1], go);
  else if (page === "jobs") renderJobs(main, live, go);
  else if (page === "images" && parts[1]) renderImage(main, live, parts[1], params.get("region") ?? "local", go);
  else if (page === "images") renderImages(main, live);
  else fill(main, h("h1", { tabindex: -1, id: "page-title" }, "Not found"), h("p", {}, h("a", { href: "#/sources" }, "Go to sources")));
  const title = main.querySelector("h1");
  document.title = `${title?.textContent ?? "Hoist"} · Hoist`;
  // Moving between pages puts the focus on the new page's heading, as a page load would.
  (main.querySelector<HTMLElement>("#page-title") ?? main).focus({ preventScroll: true });
}

function start(): void {
  shell();
  live.start();
  if (!location.hash || location.hash === "#/" || location.hash === "#") location.hash = "#/sources";
  route();
}

function login(message?: string): void {
  const input = h("input", { id: "api-key", name: "api-key", type: "password", autocomplete: "off", required: true, "aria-describedby": "api-key-hint login-error", spellcheck: "false" });
  const errors = h("div", { id: "login-error", "aria-live": "assertive" }, message ? errorBox("Api.Unauthorized", message, "Paste the key again.") : null);
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { class: "form login", novalidate: true },
    h("h1", {}, "Hoist console"),
    h("div", { class: "field" }, h("label", { for: "api-key" }, "API key"), input, h("p", { class: "hint", id: "api-key-hint" }, 'The key hoist server printed on its first start ("Admin API key (shown once)") or HOIST_API_KEY. It stays in this tab only.')),
    errors,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    if (!key) {
      fill(errors, errorBox("Console.MissingApiKey", "enter the API key", "Paste the key hoist server printed."));
      input.focus();
      return;
    }
    submit.disabled = true;
    request("GET", "/v1/sources?limit=1", undefined, key)
      .then(() => {
        apiKey.set(key);
        start();
      })
      .catch((e: unknown) => {
        submit.disabled = false;
        fill(errors, e instanceof ApiError ? errorBox(e.code, e.message, e.fix) : errorBox("Console.Error", String(e)));
        input.focus();
      });
  });
  fill(app, h("main", { class: "login-wrap" }, form));
  input.focus();
}

whenUnauthorized(() => {
  apiKey.clear();
  live.stop();
  login("The server no longer accepts this API key.");
});
window.addEventListener("hashchange", () => {
  if (apiKey.get()) route();
});
if (apiKey.get()) start();
else login();

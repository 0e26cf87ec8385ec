// Sources: every imported server with its State, OS, disks and used space,
// last heartbeat and agent version; import a new one (activation code and the
// one-line command), start a migration, delete.
import { ACTIVATION_CODE_LIMITS, type SourceServer, type SourceServerDetail, validateNewCode } from "@hoist/protocol";
import { ApiError, api } from "../api";
import { confirmAction, fill, h, openDialog, uid } from "../dom";
import { ago, bytes, GiB } from "../format";
import type { LiveData } from "../live";
import { act, badge, empty, errorBox, loading, pageHeader } from "./common";

/** Inventories change rarely: read once per source (and again when its State changes). */
const details = new Map<string, { state: string; detail: SourceServerDetail | null; error: string | null }>();

function disksOf(d: SourceServerDetail | null): string {
  if (!d) return "…";
  const inv = d.inventory;
  if (inv.disks.length) return inv.disks.map((x) => `${x.name} ${bytes(x.sizeBytes)}`).join(", ");
  return `system ${bytes(inv.systemDiskBytes)}`;
}

function loadDetail(s: SourceServer, rerender: () => void): SourceServerDetail | null {
  const known = details.get(s.sourceId);
  if (known && known.state === s.state) return known.detail;
  details.set(s.sourceId, { state: s.state, detail: known?.detail ?? null, error: null });
  api
    .source(s.sourceId)
    .then((detail) => details.set(s.sourceId, { state: s.state, detail, error: null }))
    .catch((e: unknown) => details.set(s.sourceId, { state: s.state, detail: null, error: e instanceof Error ? e.message : String(e) }))
    .finally(rerender);
  return known?.detail ?? null;
}

export function sourceDetail(id: string): SourceServerDetail | null {
  return details.get(id)?.detail ?? null;
}

export function importDialog(live: LiveData): void {
  const L = ACTIVATION_CODE_LIMITS;
  const usesId = uid("uses");
  const daysId = uid("days");
  const descId = uid("desc");
  const errId = uid("err");
  const result = h("div", { class: "import-result", "aria-live": "polite" });
  const uses = h("input", { id: usesId, name: "uses", inputmode: "numeric", value: String(L.uses.default), "aria-describedby": `${usesId}-hint ${errId}` });
  const days = h("input", { id: daysId, name: "validityDays", inputmode: "numeric", value: String(L.validityDays.default), "aria-describedby": `${daysId}-hint ${errId}` });
  const desc = h("input", { id: descId, name: "description", maxlength: L.descriptionMax + 10 });
  const errors = h("div", { id: errId });
  const submit = h("button", { type: "submit", class: "primary" }, "Generate activation code");
  const form = h(
    "form",
    { class: "form", novalidate: true },
    h("div", { class: "field" }, h("label", { for: usesId }, "Uses"), uses, h("p", { class: "hint", id: `${usesId}-hint` }, `How many sources may import with this code, ${L.uses.min}–${L.uses.max}.`)),
    h("div", { class: "field" }, h("label", { for: daysId }, "Validity (days)"), days, h("p", { class: "hint", id: `${daysId}-hint` }, `${L.validityDays.min}–${L.validityDays.max} days.`)),
    h("div", { class: "field" }, h("label", { for: descId }, "Description (optional)"), desc),
    errors,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const num = (v: string) => (/^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v.trim()) : v.trim());
    const body = { uses: num(uses.value), validityDays: num(days.value), description: desc.value };
    fill(errors);
    try {
      validateNewCode(body);
    } catch (e) {
      const err = e as { code: string; message: string; fix?: string };
      fill(errors, errorBox(err.code, err.message, err.fix));
      (err.code === "ActivationCode.InvalidUses" ? uses : err.code === "ActivationCode.InvalidValidity" ? days : desc).focus();
      return;
    }
    submit.disabled = true;
    api
      .createCode(body)
      .then((made) => {
        const cmdId = uid("cmd");
        const cmd = h("textarea", { id: cmdId, class: "command", readonly: true, rows: 4, spellcheck: "false" }, made.command);
        const copy = h("button", { type: "button", class: "primary" }, "Copy command");
        copy.addEventListener("click", () => {
          // The clipboard API needs a secure page (https or localhost); elsewhere the text is selected and copied the old way.
          const fallback = () => {
            cmd.select();
            document.execCommand("copy");
          };
          const copied = navigator.clipboard ? navigator.clipboard.writeText(made.command).catch(fallback) : Promise.resolve(fallback());
          void copied.then(() => {
            copy.textContent = "Copied";
          });
        });
        form.hidden = true;
        fill(
          result,
          h("p", {}, `Activation code ${made.codeId}: ${made.usesLeft} use(s), valid until ${new Date(made.expiresAt).toLocaleString()}. The code is shown only now.`),
          h("label", { for: cmdId }, "Run this as root on the source server:"),
          cmd,
          h("div", { class: "actions" }, copy),
          h("p", { class: "hint" }, "The source appears in the list within a few seconds of the agent starting."),
        );
        copy.focus();
        void live.refresh();
      })
      .catch((e: unknown) => {
        submit.disabled = false;
        fill(errors, e instanceof ApiError ? errorBox(e.code, e.message, e.fix) : errorBox("Console.Error", String(e)));
      });
  });
  openDialog("Import source", () => [form, result]);
}

export function renderSources(root: HTMLElement, live: LiveData, go: (hash: string) => void): void {
  const importBtn = h("button", { type: "button", class: "primary", onclick: () => importDialog(live) }, "Import source");
  const body = h("section", { "aria-labelledby": "page-title" });
  fill(root, pageHeader("Sources", importBtn), body);
  const rerender = () => draw();
  const draw = () => {
    const sources = live.state.sources;
    if (sources === null) return fill(body, loading("sources"));
    if (sources.length === 0) {
      return fill(body, empty("No sources yet", "Import a source: generate an activation code and run the command it shows on the server you want to migrate.", h("button", { type: "button", onclick: () => importDialog(live) }, "Import source")));
    }
    const rows = sources.map((s) => {
      const d = loadDetail(s, rerender);
      const startBtn = h("button", { type: "button", class: "primary", "data-key": `start:${s.sourceId}`, disabled: s.state !== "Available", title: s.state === "Available" ? undefined : `The source is ${s.state}` }, "Start migration");
      startBtn.addEventListener("click", () => go(`#/migrate/${encodeURIComponent(s.sourceId)}`));
      const delBtn = h("button", { type: "button", class: "danger", "data-key": `delete:${s.sourceId}` }, "Delete");
      delBtn.addEventListener("click", async () => {
        if (!(await confirmAction(`Delete source ${s.name}?`, "Its agent's token stops working; import it again to migrate it later.", "Delete source"))) return;
        if (await act(delBtn, `Source ${s.name} deleted`, () => api.deleteSource(s.sourceId))) void live.refresh();
      });
      return h(
        "tr",
        { "data-source-id": s.sourceId },
        h("td", { "data-label": "Source" }, h("strong", {}, s.name), h("div", { class: "sub" }, s.sourceId)),
        h("td", { "data-label": "State" }, badge(s.state), s.errorCode ? h("div", { class: "sub warn-text" }, s.errorCode, s.statusInfo ? `: ${s.statusInfo}` : "") : null),
        h("td", { "data-label": "OS" }, d?.inventory.os.prettyName ?? s.os ?? "—", h("div", { class: "sub" }, s.arch ?? "")),
        h("td", { "data-label": "Disks" }, disksOf(d)),
        h("td", { "data-label": "Used" }, d ? bytes(d.inventory.usedBytes) : "…", d ? h("div", { class: "sub" }, `${Math.ceil(d.inventory.usedBytes / GiB)} GiB needed`) : null),
        h("td", { "data-label": "Last heartbeat" }, h("time", { datetime: s.lastHeartbeatAt, title: new Date(s.lastHeartbeatAt).toLocaleString() }, ago(s.lastHeartbeatAt))),
        h("td", { "data-label": "Agent" }, s.agentVersion ?? "—"),
        h("td", { "data-label": "Actions", class: "row-actions" }, startBtn, delBtn),
      );
    });
    fill(
      body,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "list" },
          h("caption", { class: "visually-hidden" }, "Source servers"),
          h("thead", {}, h("tr", {}, ...["Source", "State", "OS", "Disks", "Used", "Last heartbeat", "Agent", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, rows),
        ),
      ),
    );
  };
  draw();
  const off = live.subscribe(draw);
  // "5 s ago" keeps counting while nothing changes (a source that stopped heartbeating sends nothing).
  const tick = window.setInterval(() => {
    for (const t of body.querySelectorAll("time[datetime]")) t.textContent = ago(t.getAttribute("datetime"));
  }, 2000);
  root.addEventListener(
    "page:leave",
    () => {
      off();
      clearInterval(tick);
    },
    { once: true },
  );
}

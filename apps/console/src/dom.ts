/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// A few lines instead of a framework: elements are built with h(), text always
// goes in as text (never as HTML), and a page re-renders its own section.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = String(v);
    else if (k in el && typeof v !== "string" && k !== "list") (el as unknown as Record<string, unknown>)[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Element | DocumentFragment, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/**
 * Replaces an element's children. Live updates redraw often, so the element
 * that had the focus (known by its data-key) gets it back in the new content.
 */
export function fill(el: Element, ...children: (Child | Child[])[]): void {
  const active = document.activeElement;
  const key = active instanceof HTMLElement && el.contains(active) ? active.dataset["key"] : undefined;
  el.replaceChildren();
  append(el, children);
  if (key) el.querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"]`)?.focus();
}

let nextId = 0;
export const uid = (prefix: string): string => `${prefix}-${++nextId}`;

/** A polite message for screen readers (and a visible toast). */
export function announce(text: string, kind: "ok" | "error" = "ok"): void {
  const region = document.getElementById("toasts");
  if (!region) return;
  const toast = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  region.append(toast);
  setTimeout(() => toast.remove(), kind === "error" ? 10_000 : 5_000);
}

/** A modal dialog (native <dialog>: focus stays inside, Escape closes it). */
export function openDialog(title: string, body: (close: () => void) => Node[]): HTMLDialogElement {
  const titleId = uid("dlg");
  const dialog = h("dialog", { class: "dialog", "aria-labelledby": titleId });
  const close = () => dialog.close();
  const header = h("header", { class: "dialog-head" }, h("h2", { id: titleId }, title), h("button", { type: "button", class: "icon", "aria-label": "Close", onclick: close }, "✕"));
  append(dialog, [header, ...body(close)]);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/** Asks before something that cannot be undone. */
export function confirmAction(title: string, text: string, verb: string): Promise<boolean> {
  return new Promise((resolve) => {
    let answered = false;
    const dialog = openDialog(title, (close) => [
      h("p", {}, text),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", onclick: close }, "Keep it"),
        h(
          "button",
          {
            type: "button",
            class: "danger",
            onclick: () => {
              answered = true;
              close();
            },
          },
          verb,
        ),
      ),
    ]);
    dialog.addEventListener("close", () => resolve(answered));
  });
}

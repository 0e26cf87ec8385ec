// Images: what the jobs made, with whether each booted; one image's details
// (boot time, console log, conversion report with its diffs, an image check
// on demand) and delete.
import { api, type Finding, type ImageDetailBody } from "../api";
import { confirmAction, fill, h } from "../dom";
import { bytes, duration, when } from "../format";
import type { LiveData } from "../live";
import { act, badge, empty, errorBox, errorFrom, loading, pageHeader } from "./common";

const VERIFICATION_TEXT: Record<string, string> = {
  booted: "Verified: booted to multi-user with its filesystems mounted",
  failed: "Not verified: the boot check failed",
  skipped: "Not verified: the job skipped the boot check",
};

export function renderImages(root: HTMLElement, live: LiveData): void {
  const body = h("section", { "aria-labelledby": "page-title" });
  fill(root, pageHeader("Images"), body);
  const draw = () => {
    const images = live.state.images;
    if (images === null) return fill(body, loading("images"));
    if (images.length === 0) return fill(body, empty("No images yet", "A replication job makes an image when it finishes; it appears here with its verification."));
    const rows = images.map((i) => {
      const del = h("button", { type: "button", class: "danger", "data-key": `delete:${i.RegionId}:${i.ImageName}` }, "Delete");
      del.addEventListener("click", async () => {
        if (!(await confirmAction(`Delete image ${i.ImageName}?`, "Its disks are removed from the image store. This cannot be undone.", "Delete image"))) return;
        if (await act(del, `Image ${i.ImageName} deleted`, () => api.deleteImage(i.ImageName, i.RegionId))) void live.refresh();
      });
      return h(
        "tr",
        { "data-image": i.ImageName },
        h("td", { "data-label": "Image" }, h("a", { href: `#/images/${encodeURIComponent(i.ImageName)}?region=${encodeURIComponent(i.RegionId)}`, "data-key": `open:${i.RegionId}:${i.ImageName}` }, i.ImageName)),
        h("td", { "data-label": "Verification" }, badge(i.Verification, VERIFICATION_TEXT[i.Verification])),
        h("td", { "data-label": "Boot time" }, i.BootSeconds ? duration(i.BootSeconds) : "—"),
        h("td", { "data-label": "Job" }, i.JobId, h("div", { class: "sub" }, `run ${i.Run}`)),
        h("td", { "data-label": "Region" }, i.RegionId),
        h("td", { "data-label": "Created" }, when(i.CreationTime)),
        h("td", { "data-label": "Actions", class: "row-actions" }, del),
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
          h("caption", { class: "visually-hidden" }, "Images made by replication jobs"),
          h("thead", {}, h("tr", {}, ...["Image", "Verification", "Boot time", "Job", "Region", "Created", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, rows),
        ),
      ),
    );
  };
  draw();
  const off = live.subscribe(draw);
  root.addEventListener("page:leave", () => off(), { once: true });
}

/** A serial console's text without its terminal control sequences (colours, cursor moves, resets). */
export function plainText(log: string): string {
  return log
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, "")
    .replace(/\x1b[()][0-9A-Za-z]|\x1b[=>c78]/g, "")
    .replace(/\r+\n/g, "\n")
    .replace(/\r/g, "\n")
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, "");
}

function findingsList(findings: Finding[]): HTMLElement {
  if (findings.length === 0) return h("p", { class: "ok-text", role: "status" }, "Image check passed: nothing found that would stop it booting.");
  return h(
    "ul",
    { class: "findings", role: "status" },
    findings.map((f) => h("li", {}, badge(f.severity), " ", h("strong", {}, f.code), " ", f.message, h("div", { class: "fix" }, `Fix: ${f.fix}`))),
  );
}

export function renderImage(root: HTMLElement, live: LiveData, name: string, region: string, go: (hash: string) => void): void {
  const body = h("div");
  fill(root, pageHeader(`Image ${name}`), body);
  fill(body, loading("the image"));
  api
    .image(name, region)
    .then((img: ImageDetailBody) => {
      const d = img.Detail;
      const checkOut = h("div", { "aria-live": "polite" });
      const checkBtn = h("button", { type: "button" }, "Run image check");
      checkBtn.addEventListener("click", () => {
        fill(checkOut, h("p", { role: "status" }, "Checking the image's disks…"));
        void act(checkBtn, `Image check of ${name} done`, async () => {
          try {
            const r = await api.checkImage(name, region);
            fill(checkOut, findingsList(r.Findings));
          } catch (e) {
            fill(checkOut, errorFrom(e));
            throw e;
          }
        });
      });
      const del = h("button", { type: "button", class: "danger" }, "Delete image");
      del.addEventListener("click", async () => {
        if (!(await confirmAction(`Delete image ${name}?`, "Its disks are removed from the image store. This cannot be undone.", "Delete image"))) return;
        if (await act(del, `Image ${name} deleted`, () => api.deleteImage(name, region))) {
          void live.refresh();
          go("#/images");
        }
      });
      const v = d?.verification;
      fill(
        body,
        h(
          "section",
          { class: "card", "aria-labelledby": "verify-h" },
          h("h2", { id: "verify-h" }, "Verification"),
          h("p", { class: "verification" }, badge(img.Verification), " ", VERIFICATION_TEXT[img.Verification] ?? img.Verification),
          h(
            "dl",
            { class: "facts" },
            h("dt", {}, "Boot time"),
            h("dd", {}, img.BootSeconds ? duration(img.BootSeconds) : "—"),
            h("dt", {}, "Reached multi-user"),
            h("dd", {}, v?.reachedMultiUser === undefined ? "—" : v.reachedMultiUser ? "yes" : "no"),
            h("dt", {}, "All filesystems mounted"),
            h("dd", {}, v?.mountedAll === undefined ? "—" : v.mountedAll ? "yes" : "no"),
            h("dt", {}, "Made by"),
            h("dd", {}, `job ${img.JobId}, run ${img.Run}, ${when(img.CreationTime)}`),
            d?.source ? h("dt", {}, "Source") : null,
            d?.source ? h("dd", {}, `${d.source.os}, kernel ${d.source.kernel ?? "—"}, ${bytes(d.source.usedBytes)} used of ${bytes(d.source.systemDiskBytes)}`) : null,
            h("dt", {}, "Disks"),
            h("dd", {}, d ? d.disks.map((x) => `${x.key} ${bytes(x.virtualSizeBytes)} ${x.format}`).join(", ") : "—"),
          ),
          v?.reason ? errorBox("Image.VerifyFailed", v.reason) : null,
          h("div", { class: "row-actions" }, checkBtn, del),
          checkOut,
        ),
        h(
          "section",
          { class: "card", "aria-labelledby": "conv-h" },
          h("h2", { id: "conv-h" }, "Conversion report"),
          d?.conversion
            ? h(
                "ol",
                { class: "steps" },
                d.conversion.steps.map((s) =>
                  h(
                    "li",
                    {},
                    badge(s.ok ? "done" : "failed"),
                    " ",
                    h("strong", {}, s.name),
                    s.detail ? ` — ${s.detail}` : "",
                    s.error ? errorBox("Convert.StepFailed", s.error) : null,
                    s.diff ? h("details", {}, h("summary", {}, "Diff"), h("pre", { class: "diff", tabindex: 0 }, s.diff)) : null,
                  ),
                ),
              )
            : h("p", { class: "hint" }, "No conversion report was kept for this image."),
        ),
        h(
          "section",
          { class: "card", "aria-labelledby": "log-h" },
          h("h2", { id: "log-h" }, "Boot console log"),
          d?.consoleLog ? h("pre", { class: "console-log", tabindex: 0, "aria-label": "Serial console of the boot check (its end)" }, plainText(d.consoleLog)) : h("p", { class: "hint" }, "No console log: the image was not booted."),
        ),
      );
    })
    .then(() => {
      // The end of the log is where the boot check decided.
      const log = body.querySelector("pre.console-log");
      if (log) log.scrollTop = log.scrollHeight;
    })
    .catch((e: unknown) => fill(body, errorFrom(e), h("p", {}, h("a", { href: "#/images" }, "Back to images"))));
}

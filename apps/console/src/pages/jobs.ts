// Jobs: each replication job with its Status and BusinessStatus, a progress
// bar, speed and time remaining, its stage, its error with code and fix, and
// the actions its Status allows (start, pause, modify, retry, cancel, delete);
// a finished job shows its image and whether it booted.
import { JOB_LIMITS, type ReplicationJob, checkModifyJob, sourceChangesSummary } from "@hoist/protocol";
import { ApiError, api } from "../api";
import { confirmAction, fill, h, openDialog, uid } from "../dom";
import { bytes, duration, speed, when } from "../format";
import type { LiveData } from "../live";
import { act, badge, empty, errorBox, loading, pageHeader } from "./common";

/** What the job is doing now, in words. */
export function stageOf(j: ReplicationJob): string {
  if (j.Status === "Running") {
    switch (j.BusinessStatus) {
      case "Preparing":
        return "Preparing: starting the intermediate instance and reading the source";
      case "Syncing":
        return "Syncing: copying the source's files";
      case "Processing":
        return "Processing: making the copy bootable, creating and booting the image";
      case "Cleaning":
        return "Cleaning: releasing the intermediate instance";
      default:
        return "Running";
    }
  }
  if (j.Status === "Waiting") return j.NextRunTime ? `Waiting: next run ${when(j.NextRunTime)}` : "Waiting";
  if (j.Status === "Stopped") return `Paused${j.BusinessStatus ? ` while ${j.BusinessStatus}` : ""}`;
  if (j.Status === "InError") return `Failed${j.BusinessStatus ? ` while ${j.BusinessStatus}` : ""}`;
  if (j.Status === "Ready") return j.ScheduledStartTime ? `Scheduled for ${when(j.ScheduledStartTime)}` : "Created; not started";
  if (j.Status === "Finished") return `Finished ${when(j.EndTime)}`;
  return j.Status;
}

const canStart = (j: ReplicationJob) => ["Ready", "Stopped", "InError", "Waiting"].includes(j.Status);
const canPause = (j: ReplicationJob) => (j.Status === "Running" && (j.BusinessStatus === "Preparing" || j.BusinessStatus === "Syncing")) || j.Status === "Waiting";
const canModify = (j: ReplicationJob) => !["Finished", "Expired", "Deleting"].includes(j.Status);
const canCancel = (j: ReplicationJob) => !["Finished", "Deleting"].includes(j.Status);
const canDelete = (j: ReplicationJob) => !["Running", "Deleting"].includes(j.Status);

function modifyDialog(j: ReplicationJob, live: LiveData): void {
  const L = JOB_LIMITS;
  const rateId = uid("rate");
  const compId = uid("comp");
  const sumId = uid("sum");
  const rate = h("input", { id: rateId, name: "RateLimit", inputmode: "numeric", value: String(j.RateLimit), "aria-describedby": `${rateId}-hint` });
  const comp = h("input", { id: compId, name: "CompressLevel", inputmode: "numeric", value: String(j.CompressLevel), "aria-describedby": `${compId}-hint` });
  const checksum = h("input", { id: sumId, type: "checkbox", name: "Checksum", checked: j.Checksum });
  const errors = h("div", { "aria-live": "polite" });
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const num = (v: string) => (/^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v.trim()) : v.trim());
  const form = h(
    "form",
    { class: "form", novalidate: true },
    h("div", { class: "field" }, h("label", { for: rateId }, "Rate limit (Mbit/s)"), rate, h("p", { class: "hint", id: `${rateId}-hint` }, `${L.rateLimitMbps.min}–${L.rateLimitMbps.max}; 0 = no limit.`)),
    h("div", { class: "field" }, h("label", { for: compId }, "Compression ratio"), comp, h("p", { class: "hint", id: `${compId}-hint` }, `${L.compressLevel.min}–${L.compressLevel.max}.`)),
    h("div", { class: "field check" }, checksum, h("label", { for: sumId }, "Checksum verification")),
    h("p", { class: "hint" }, "A copy under way restarts with the new settings and goes on where it was."),
    errors,
    h("div", { class: "actions" }, save),
  );
  let closeDialog: () => void = () => {};
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const changes: Record<string, unknown> = {};
    if (rate.value.trim() !== String(j.RateLimit)) changes["RateLimit"] = num(rate.value);
    if (comp.value.trim() !== String(j.CompressLevel)) changes["CompressLevel"] = num(comp.value);
    if (checksum.checked !== j.Checksum) changes["Checksum"] = checksum.checked;
    const checked = checkModifyJob(changes, new Date());
    if (checked.issues.length) {
      fill(errors, ...checked.issues.map((i) => errorBox(i.error.code, i.error.message, i.error.fix)));
      (checked.issues[0]?.field === "CompressLevel" ? comp : checked.issues[0]?.field === "Checksum" ? checksum : rate).focus();
      return;
    }
    save.disabled = true;
    api
      .modifyJob(j.JobId, changes)
      .then(() => {
        closeDialog();
        void live.refresh();
      })
      .catch((e: unknown) => {
        save.disabled = false;
        fill(errors, e instanceof ApiError ? errorBox(e.code, e.message, e.fix) : errorBox("Console.Error", String(e)));
      });
  });
  openDialog(`Modify ${j.Name}`, (close) => {
    closeDialog = close;
    return [form];
  });
}

function progress(j: ReplicationJob): HTMLElement {
  const label = `${j.Progress} %`;
  // Set through the style property: the page's content policy refuses style attributes.
  const bar = h("div", { class: "bar" });
  bar.style.width = `${j.Progress}%`;
  return h(
    "div",
    { class: "progress-cell" },
    h("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": j.Progress, "aria-label": `Progress of ${j.Name}` }, bar),
    h("span", { class: "pct" }, label),
    j.Transfer ? h("div", { class: "sub" }, `${bytes(j.Transfer.BytesDone)} of ${bytes(j.Transfer.BytesTotal)}`) : null,
  );
}

/** What changed on the source while the last copy ran, with the paths the job names behind a disclosure. */
function sourceChanges(j: ReplicationJob): HTMLElement | null {
  const c = j.ChangedDuringCopy;
  if (!c) return null;
  const summary = sourceChangesSummary({ appeared: c.Appeared, vanished: c.Vanished, changed: c.Changed });
  const paths = c.Disks.flatMap((d) => d.Paths.map((p) => ({ ...p, disk: d.Disk })));
  const named = c.Appeared + c.Vanished + c.Changed;
  return h(
    "div",
    { class: "job-changes" },
    h("dt", {}, "Source changes"),
    h(
      "dd",
      {},
      named === 0 ? `none during the copy of run ${c.Run}` : `during the copy of run ${c.Run}: ${summary}; the next sync brings them over`,
      paths.length
        ? h(
            "details",
            {},
            h("summary", {}, paths.length < named ? `The first ${paths.length} paths` : "Paths"),
            h(
              "ul",
              { class: "changes" },
              paths.map((p) =>
                h(
                  "li",
                  {},
                  `${p.Change} `,
                  h("code", {}, `${p.Path}${p.Dir ? "/" : ""}`),
                  p.BytesBefore !== null && p.BytesAfter !== null && p.BytesBefore !== p.BytesAfter ? ` (${bytes(p.BytesBefore)} → ${bytes(p.BytesAfter)})` : "",
                  c.Disks.length > 1 ? ` on ${p.disk}` : "",
                ),
              ),
            ),
          )
        : null,
    ),
  );
}

function jobCard(j: ReplicationJob, live: LiveData, sourceName: string | undefined): HTMLElement {
  const key = (a: string) => `${a}:${j.JobId}`;
  const button = (label: string, cls: string, enabled: boolean, onclick: (b: HTMLButtonElement) => void) => {
    const b = h("button", { type: "button", class: cls, "data-key": key(label), disabled: !enabled }, label);
    b.addEventListener("click", () => onclick(b));
    return b;
  };
  const refresh = (ok: boolean) => {
    if (ok) void live.refresh();
  };
  const actions = [
    button(j.Status === "Stopped" ? "Resume" : "Start", "primary", canStart(j), (b) => void act(b, `Job ${j.Name} started`, () => api.jobAction(j.JobId, "start")).then(refresh)),
    button("Pause", "", canPause(j), (b) => void act(b, `Job ${j.Name} paused`, () => api.jobAction(j.JobId, "stop")).then(refresh)),
    button("Modify", "", canModify(j), () => modifyDialog(j, live)),
    j.Status === "InError" ? button("Retry", "", true, (b) => void act(b, `Job ${j.Name} retried`, () => api.jobAction(j.JobId, "retry")).then(refresh)) : null,
    button("Cancel", "danger", canCancel(j), async (b) => {
      if (!(await confirmAction(`Cancel ${j.Name}?`, "The job stops, its intermediate instance is released and the job is deleted. Images it made stay.", "Cancel job"))) return;
      refresh(await act(b, `Job ${j.Name} cancelled`, () => api.jobAction(j.JobId, "cancel")));
    }),
    j.Status === "Finished" || j.Status === "Expired"
      ? button("Delete", "danger", canDelete(j), async (b) => {
          if (!(await confirmAction(`Delete ${j.Name}?`, "The job is removed; its images stay.", "Delete job"))) return;
          refresh(await act(b, `Job ${j.Name} deleted`, () => api.deleteJob(j.JobId)));
        })
      : null,
  ];
  const latest = j.Images.at(-1);
  const t = j.Transfer;
  return h(
    "article",
    { class: "job", "data-job-id": j.JobId, "aria-labelledby": `job-${j.JobId}` },
    h(
      "header",
      { class: "job-head" },
      h("h2", { id: `job-${j.JobId}` }, j.Name),
      badge(j.Status),
      // BusinessStatus says where a run is (or where it stopped); a finished run has none left to show.
      j.BusinessStatus && ["Running", "Stopped", "InError"].includes(j.Status) ? h("span", { class: "business" }, j.BusinessStatus) : null,
      h("span", { class: "sub" }, `${j.JobId} · source ${sourceName ?? j.SourceId}${j.RunOnce ? "" : ` · every ${j.Frequency} h, run ${j.RunCount}`}`),
    ),
    h(
      "dl",
      { class: "job-facts" },
      h("div", {}, h("dt", {}, "Progress"), h("dd", {}, progress(j))),
      h("div", {}, h("dt", {}, "Speed"), h("dd", { class: "speed" }, t && j.Status === "Running" ? speed(t.Speed) : "—")),
      h("div", {}, h("dt", {}, "Time remaining"), h("dd", { class: "eta" }, t && j.Status === "Running" && j.BusinessStatus === "Syncing" ? duration(t.TimeRemainingSeconds) : "—")),
      h("div", {}, h("dt", {}, "Stage"), h("dd", { class: "stage" }, stageOf(j))),
      j.TargetType === "TargetInstance" && j.InstanceId ? h("div", { class: "job-destination" }, h("dt", {}, "Destination"), h("dd", {}, `ECS instance ${j.InstanceId}`)) : null,
      sourceChanges(j),
      h("div", {}, h("dt", {}, "Settings"), h("dd", {}, `rate ${j.RateLimit ? `${j.RateLimit} Mbit/s` : "unlimited"} · compression ${j.CompressLevel} · checksum ${j.Checksum ? "on" : "off"}`)),
      latest
        ? h(
            "div",
            { class: "job-image" },
            h("dt", {}, "Image"),
            h("dd", {}, h("a", { href: `#/images/${encodeURIComponent(latest.ImageName)}?region=${encodeURIComponent(latest.RegionId)}` }, latest.ImageName), " ", badge(latest.Verification), latest.BootSeconds ? ` booted in ${duration(latest.BootSeconds)}` : ""),
          )
        : null,
    ),
    j.ErrorCode ? errorBox(j.ErrorCode, j.ErrorMessage ?? "", j.ErrorFix) : null,
    j.StatusInfo && !j.ErrorCode ? h("p", { class: "sub" }, j.StatusInfo) : null,
    h("div", { class: "row-actions" }, ...actions),
  );
}

export function renderJobs(root: HTMLElement, live: LiveData, go: (hash: string) => void): void {
  const body = h("section", { "aria-labelledby": "page-title" });
  fill(root, pageHeader("Jobs", h("button", { type: "button", onclick: () => go("#/sources") }, "Start a migration")), body);
  const draw = () => {
    const jobs = live.state.jobs;
    if (jobs === null) return fill(body, loading("jobs"));
    if (jobs.length === 0) return fill(body, empty("No replication jobs", "Start a migration from a source on the Sources page.", h("a", { href: "#/sources", class: "button" }, "Go to sources")));
    const names = new Map((live.state.sources ?? []).map((s) => [s.sourceId, s.name]));
    fill(body, h("div", { class: "jobs" }, jobs.map((j) => jobCard(j, live, names.get(j.SourceId)))));
  };
  draw();
  const off = live.subscribe(draw);
  root.addEventListener("page:leave", () => off(), { once: true });
}

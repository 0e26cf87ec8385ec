// Start migration: every parameter of CreateReplicationJob, grouped as SMC's
// console groups them (basic; disk partition structure with per-disk sizes;
// mount points with file or block replication per partition; advanced).
// The form checks itself with the API's own rules (@hoist/protocol), showing
// each problem beside its field with the API's code, message and fix.
import { EXECUTION_METHODS, type FieldIssue, JOB_LIMITS, type SourceServerDetail } from "@hoist/protocol";
import { ApiError, api } from "../api";
import { announce, fill, h, uid } from "../dom";
import { bytes } from "../format";
import { type DataDiskRow, defaultsFor, formIssues, type MigrationForm, toBody } from "../form-model";
import type { LiveData } from "../live";
import { errorBox, errorFrom, loading, pageHeader } from "./common";

type TextKey = { [K in keyof MigrationForm]: MigrationForm[K] extends string ? K : never }[keyof MigrationForm];
type BoolKey = { [K in keyof MigrationForm]: MigrationForm[K] extends boolean ? K : never }[keyof MigrationForm];

/** Where each API field's problems show, and which control gets the focus. */
interface Slot {
  error: HTMLElement;
  focus: () => HTMLElement | null;
  group: HTMLDetailsElement | null;
}

export function renderMigrate(root: HTMLElement, live: LiveData, sourceId: string, go: (hash: string) => void): void {
  const body = h("div");
  fill(root, pageHeader("Start migration"), body);
  fill(body, loading("the source's inventory"));
  api
    .source(sourceId)
    .then((source) => {
      if (source.state !== "Available") {
        fill(body, errorBox("SourceServerState.Invalid", `source ${source.name} is ${source.state}; a migration starts only on an Available source`, "Wait until its job ends or the agent is back online, then start again."));
        return;
      }
      drawForm(body, source, live, go);
    })
    .catch((e: unknown) => fill(body, errorFrom(e)));
}

function drawForm(body: HTMLElement, source: SourceServerDetail, live: LiveData, go: (hash: string) => void): void {
  const form: MigrationForm = defaultsFor(source);
  const slots = new Map<string, Slot>();
  const L = JOB_LIMITS;
  let submitted = false;
  let currentGroup: HTMLDetailsElement | null = null;

  const slot = (field: string, focus: () => HTMLElement | null): HTMLElement => {
    const error = h("div", { class: "field-error", id: `err-${field}`, "aria-live": "polite" });
    slots.set(field, { error, focus, group: currentGroup });
    return error;
  };

  const control = (field: string, label: string, input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string) => {
    const id = uid("f");
    input.id = id;
    input.setAttribute("aria-describedby", `${hint ? `${id}-hint ` : ""}err-${field}`);
    input.dataset["field"] = field;
    return h("div", { class: "field", "data-field": field }, h("label", { for: id }, label), input, hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null, slot(field, () => input));
  };

  const text = (key: TextKey, field: string, label: string, hint?: string, attrs: Record<string, string> = {}) => {
    const input = h("input", { name: field, value: form[key], autocomplete: "off", ...attrs });
    input.addEventListener("input", () => {
      form[key] = input.value;
    });
    return control(field, label, input, hint);
  };

  const select = (key: TextKey, field: string, label: string, options: [string, string][], hint?: string, onchange?: () => void) => {
    const input = h("select", { name: field }, ...options.map(([v, t]) => h("option", { value: v, selected: form[key] === v }, t)));
    input.addEventListener("change", () => {
      form[key] = input.value;
      onchange?.();
    });
    return control(field, label, input, hint);
  };

  const check = (key: BoolKey, field: string, label: string, hint?: string, onchange?: () => void) => {
    const id = uid("c");
    const input = h("input", { type: "checkbox", id, name: field, checked: form[key], "aria-describedby": `${hint ? `${id}-hint ` : ""}err-${field}` });
    input.dataset["field"] = field;
    input.addEventListener("change", () => {
      form[key] = input.checked;
      onchange?.();
    });
    return h("div", { class: "field check", "data-field": field }, input, h("label", { for: id }, label), hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null, slot(field, () => input));
  };

  const group = (title: string, intro: string, children: Node[], collapsible = false): HTMLElement => {
    const inner = h("div", { class: "group-fields" }, ...children);
    if (!collapsible) return h("fieldset", { class: "group" }, h("legend", {}, title), h("p", { class: "hint" }, intro), inner);
    return h("details", { class: "group" }, h("summary", {}, title), h("p", { class: "hint" }, intro), inner);
  };

  // --- Basic
  const schedule = h("div", { hidden: form.executionMethod !== "Scheduled" }, text("scheduledStartTime", "ScheduledStartTime", "Start at", `At least ${L.scheduleLeadMinutes} minutes from now (your local time).`, { type: "datetime-local" }));
  const periodicFields = h(
    "div",
    { hidden: !form.periodic, class: "subfields" },
    text("frequency", "Frequency", "Sync interval (hours)", `${L.frequencyHours.min}–${L.frequencyHours.max} hours between incremental syncs.`, { inputmode: "numeric" }),
    text("imagesToKeep", "MaxNumberOfImageToKeep", "Images to keep", `${L.imagesToKeep.min}–${L.imagesToKeep.max}; the oldest go first (default 1).`, { inputmode: "numeric" }),
  );
  const instanceFields = h(
    "div",
    { hidden: form.targetType !== "TargetInstance", class: "subfields" },
    text(
      "instanceId",
      "InstanceId",
      "Destination instance id",
      "The existing ECS instance (in the destination region) that becomes this server: its disks are snapshotted, then replaced by the copy, and rolled back if its boot check fails. Needs hoist server --provider alibaba.",
      { spellcheck: "false" },
    ),
  );
  const vpcFields = h(
    "div",
    { hidden: form.netMode !== "2", class: "subfields" },
    text("vpcId", "VpcId", "VPC id"),
    text("vSwitchId", "VSwitchId", "vSwitch id"),
  );
  const basic = group("Basic", "What to make, where, and when.", [
    text("name", "Name", "Migration job name", `${L.name.min}–${L.name.max} characters.`),
    text("description", "Description", "Description (optional)", `At most ${L.descriptionMax} characters.`),
    select(
      "targetType",
      "TargetType",
      "Destination type",
      [
        ["Image", "Image"],
        ["TargetInstance", "ECS instance"],
      ],
      "An image to launch instances from, or an existing ECS instance to migrate onto (its data is erased; one run only).",
      () => {
        instanceFields.hidden = form.targetType !== "TargetInstance";
      },
    ),
    instanceFields,
    text("regionId", "RegionId", "Destination region", "local: this server's image store."),
    text("imageName", "ImageName", "Image name (optional)", `${L.imageName.min}–${L.imageName.max} letters, digits, ".", "_" or "-", starting with a letter; empty for hoist-<JobId>. Periodic jobs add -rN per run.`),
    select(
      "executionMethod",
      "ExecutionMethod",
      "Execution method",
      EXECUTION_METHODS.map((m) => [m, m === "Now" ? "Migrate now" : m === "Scheduled" ? "Schedule migration" : "Create only"]),
      undefined,
      () => {
        schedule.hidden = form.executionMethod !== "Scheduled";
      },
    ),
    schedule,
    check("periodic", "RunOnce", "Auto incremental sync", "Sync again every few hours, making a new image each time.", () => {
      periodicFields.hidden = !form.periodic;
    }),
    periodicFields,
    select(
      "netMode",
      "NetMode",
      "Network mode",
      [
        ["0", "Public network"],
        ["2", "Private network (VPC)"],
      ],
      undefined,
      () => {
        vpcFields.hidden = form.netMode !== "2";
      },
    ),
    vpcFields,
    check("verifyImage", "VerifyImage", "Boot the image to verify it", "Proves the image reaches multi-user with its filesystems mounted."),
  ]);

  // --- Disk partition structure
  const inv = source.inventory;
  const disksTable = h("div", { class: "data-disks" });
  const addDisk = h("button", { type: "button" }, "Add data disk");
  const drawDisks = () => {
    const rows = form.dataDisks.map((d, i) => {
      const cell = (key: keyof Omit<DataDiskRow, "block">, label: string, attrs: Record<string, string> = {}) => {
        const input = h("input", { value: d[key], "aria-label": `Data disk ${i + 1} ${label}`, "data-field": "DataDisks", autocomplete: "off", ...attrs });
        input.addEventListener("input", () => {
          d[key] = input.value;
        });
        return h("td", { "data-label": label }, input);
      };
      const block = h("input", { type: "checkbox", checked: d.block, "aria-label": `Data disk ${i + 1} block replication`, "data-field": "DataDisks" });
      block.addEventListener("change", () => {
        d.block = block.checked;
        validate();
      });
      const remove = h("button", { type: "button", class: "link", "aria-label": `Remove data disk ${i + 1}` }, "Remove");
      remove.addEventListener("click", () => {
        form.dataDisks.splice(i, 1);
        drawDisks();
        validate();
        addDisk.focus();
      });
      return h("tr", {}, cell("index", "Index", { inputmode: "numeric" }), cell("size", "Size (GiB)", { inputmode: "numeric" }), cell("sourcePath", "Source folder"), h("td", { "data-label": "Block" }, block), h("td", {}, remove));
    });
    fill(
      disksTable,
      rows.length
        ? h("table", { class: "list compact" }, h("thead", {}, h("tr", {}, ...["Index", "Size (GiB)", "Source folder", "Block", ""].map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, rows))
        : h("p", { class: "hint" }, "No data disks: everything goes to the system disk."),
    );
  };
  addDisk.addEventListener("click", () => {
    const used = new Set(form.dataDisks.map((d) => d.index));
    let n = 1;
    while (used.has(String(n)) && n < L.dataDisks) n++;
    form.dataDisks.push({ index: String(n), size: "", sourcePath: "", block: false });
    drawDisks();
    disksTable.querySelector<HTMLInputElement>("tbody tr:last-child td:nth-child(3) input")?.focus();
  });
  drawDisks();
  const usedGiB = Math.ceil(inv.usedBytes / 2 ** 30);
  const disks = group("Disk partition structure", `The source's system disk is ${bytes(inv.systemDiskBytes)} with ${bytes(inv.usedBytes)} used; the target system disk may be smaller, but not below what is used.`, [
    text("systemDiskSize", "SystemDiskSize", "System disk size (GiB)", `${L.systemDiskGiB.min}–${L.systemDiskGiB.max}; at least ${usedGiB} GiB unless folders move to data disks.`, { inputmode: "numeric" }),
    select("bootMode", "BootMode", "Boot mode", [
      ["auto", `Same as the source (${inv.bootMode.toUpperCase()})`],
      ["bios", "BIOS"],
      ["uefi", "UEFI"],
    ]),
    select("filesystem", "Filesystem", "Filesystem", [
      ["ext4", "ext4"],
      ["xfs", "xfs"],
    ]),
    check("lvm", "Lvm", "LVM", "Rebuild each target disk as one volume group (vgX) with a logical volume per mount point (lvY)."),
    check("separateBoot", "SeparateBoot", "Separate /boot partition", "Keeps /boot out of LVM so GRUB can read it."),
    h("div", { class: "field", "data-field": "DataDisks" }, h("p", { class: "label" }, "Data disks"), h("p", { class: "hint" }, `Up to ${L.dataDisks}; index 1–${L.dataDisks}, ${L.dataDiskGiB.min}–${L.dataDiskGiB.max} GiB each (empty: sized from the folder).`), disksTable, addDisk, slot("DataDisks", () => disksTable.querySelector("input") ?? addDisk)),
  ]);

  // --- Mount points
  const mountRows = form.mounts.map((m) => {
    const src = inv.mounts.find((x) => x.mountPoint === m.path);
    const id = uid("blk");
    const block = h("input", { type: "checkbox", id, "data-field": "SystemDiskParts" });
    block.addEventListener("change", () => {
      m.block = block.checked;
      validate();
    });
    return h("tr", {}, h("th", { scope: "row" }, m.path), h("td", { "data-label": "Filesystem" }, src?.fs ?? "—"), h("td", { "data-label": "Size" }, bytes(src?.sizeBytes)), h("td", { "data-label": "Used" }, bytes(src?.usedBytes)), h("td", { "data-label": "Block replication" }, block, h("label", { for: id, class: "visually-hidden" }, `Block replication of ${m.path}`)));
  });
  const mounts = group("Mount points", "Every mount point of the source is migrated; each partition is copied file by file (rsync), or block by block where chosen. A mount point given to a data disk above goes there.", [
    mountRows.length
      ? h("table", { class: "list compact" }, h("thead", {}, h("tr", {}, ...["Mount point", "Filesystem", "Size", "Used", "Block replication"].map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, mountRows))
      : h("p", { class: "hint" }, "The inventory lists no mount points."),
    slot("SystemDiskParts", () => mounts.querySelector("input")),
  ]);

  // --- Advanced
  const advancedChildren = (): Node[] => [
    text("rateLimit", "RateLimit", "Rate limit (Mbit/s)", `${L.rateLimitMbps.min}–${L.rateLimitMbps.max}; 0 = no limit.`, { inputmode: "numeric" }),
    text("compressLevel", "CompressLevel", "Compression ratio", `${L.compressLevel.min}–${L.compressLevel.max} (0 = none, default ${L.compressLevel.default}); pays only on slow links.`, { inputmode: "numeric" }),
    check("checksum", "Checksum", "Checksum verification", "Compares file contents, not only sizes and times; slower."),
    select("ssl", "Ssl", "SSL encryption", [
      ["Auto", "Auto"],
      ["On", "On"],
      ["Off", "Off"],
    ]),
    text("parallelStreams", "ParallelStreams", "Parallel streams", `${L.parallelStreams.min}–${L.parallelStreams.max} copies at once (default ${L.parallelStreams.default}).`, { inputmode: "numeric" }),
    select("licenseType", "LicenseType", "License type", [
      ["Aliyun", "Cloud provider's"],
      ["BYOL", "Bring your own (BYOL)"],
    ]),
    text("instanceType", "InstanceType", "Intermediate instance type (optional)", "The local provider ignores it."),
    control("Tags", "Tags (one key=value per line)", tagsInput(), `Up to ${L.tags}.`),
    text("validTime", "ValidTime", "Valid until (optional)", "A job not finished by then expires (your local time).", { type: "datetime-local" }),
  ];
  const tagsInput = () => {
    const t = h("textarea", { name: "Tags", rows: 3 }, form.tags);
    t.addEventListener("input", () => {
      form.tags = t.value;
    });
    return t;
  };
  const advanced = h("details", { class: "group" }, h("summary", {}, "Advanced settings"));
  currentGroup = advanced;
  append(advanced, advancedChildren());
  currentGroup = null;

  // --- Summary and submit
  const summary = h("div", { class: "summary", tabindex: -1 });
  const submit = h("button", { type: "submit", class: "primary" }, "Start migration");
  const cancel = h("button", { type: "button", onclick: () => go("#/sources") }, "Cancel");
  const el = h(
    "form",
    { class: "form migrate", novalidate: true, "aria-describedby": "migrate-intro" },
    h("p", { id: "migrate-intro", class: "lead" }, `Source ${source.name} (${source.sourceId}) · ${inv.os.prettyName} · ${inv.arch} · ${inv.bootMode.toUpperCase()}`),
    summary,
    basic,
    disks,
    mounts,
    advanced,
    h("div", { class: "actions sticky" }, cancel, submit),
  );

  const show = (issues: FieldIssue[]) => {
    for (const [field, s] of slots) {
      const mine = issues.filter((i) => i.field === field);
      fill(s.error, ...mine.map((i) => h("p", {}, h("span", { class: "code" }, i.error.code), " ", i.error.message, i.error.fix ? h("span", { class: "fix" }, ` Fix: ${i.error.fix}`) : null)));
      for (const c of el.querySelectorAll<HTMLElement>(`[data-field="${field}"]`)) if (c instanceof HTMLInputElement || c instanceof HTMLSelectElement || c instanceof HTMLTextAreaElement) c.setAttribute("aria-invalid", mine.length ? "true" : "false");
      if (mine.length && s.group) s.group.open = true;
    }
  };

  const validate = (): FieldIssue[] => {
    const issues = formIssues(source, form);
    if (submitted) {
      show(issues);
      drawSummary(issues);
    }
    return issues;
  };

  const drawSummary = (issues: FieldIssue[], apiError?: ApiError) => {
    if (!issues.length && !apiError) return fill(summary);
    fill(
      summary,
      h(
        "div",
        { class: "error-summary", role: "alert" },
        h("h2", {}, apiError ? "The server refused the job" : `${issues.length} problem${issues.length === 1 ? "" : "s"} to fix`),
        apiError ? errorBox(apiError.code, apiError.message, apiError.fix) : null,
        issues.length
          ? h(
              "ul",
              {},
              issues.map((i) =>
                h(
                  "li",
                  {},
                  h(
                    "a",
                    {
                      href: `#err-${i.field}`,
                      onclick: (ev: Event) => {
                        ev.preventDefault();
                        const s = slots.get(i.field);
                        if (s?.group) s.group.open = true;
                        s?.focus()?.focus();
                      },
                    },
                    `${i.field}: ${i.error.message}`,
                  ),
                ),
              ),
            )
          : null,
      ),
    );
  };

  // Problems show once the form is submitted; from then on they update as the person types or picks,
  // never on leaving a field (a message appearing then would move the button about to be clicked).
  const recheck = (ev: Event) => {
    if (!submitted) return;
    const t = ev.target as HTMLElement;
    if (ev.type === "change" && t instanceof HTMLInputElement && t.type !== "checkbox") return;
    validate();
  };
  el.addEventListener("input", recheck);
  el.addEventListener("change", recheck);
  el.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitted = true;
    const issues = validate();
    if (issues.length) {
      summary.focus();
      return;
    }
    submit.disabled = true;
    api
      .createJob(toBody(source.sourceId, form))
      .then((job) => {
        announce(`Job ${job.Name} created: ${job.Status}`);
        void live.refresh();
        go(`#/jobs`);
      })
      .catch((e: unknown) => {
        submit.disabled = false;
        if (e instanceof ApiError) drawSummary([], e);
        else fill(summary, errorFrom(e));
        summary.focus();
      });
  });
  fill(body, el);
}

function append(el: Element, nodes: Node[]): void {
  for (const n of nodes) el.append(n);
}

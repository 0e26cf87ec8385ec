import type { SourceServer, SourceServerDetail } from "@hoist/protocol";
import type { Command } from "commander";
import { type ApiFlags, apiClient, table, withApiFlags } from "./codes";
import { idValue } from "./flag-values";

export function registerSourcesCommand(program: Command): void {
  const sources = program.command("sources").description("Source servers imported into hoist server.");
  withApiFlags(
    sources
      .command("list")
      .description("List source servers")
      .option("--state <state>", "only this State: Unavailable, Available, InUse, Deleting")
      .option("--name <text>", "only names containing this text")
      .option("--limit <n>", "at most this many (1–1000)", "100")
      .option("--offset <n>", "skip this many", "0"),
  ).action(async (opts: ApiFlags & { state?: string; name?: string; limit: string; offset: string }) => {
    const q = new URLSearchParams({ limit: opts.limit, offset: opts.offset });
    if (opts.state !== undefined) q.set("state", opts.state);
    if (opts.name !== undefined) q.set("name", opts.name);
    const res = await apiClient(opts).request<{ total: number; sources: SourceServer[] }>("GET", `/v1/sources?${q}`);
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
      return;
    }
    process.stdout.write(
      table([
        ["SOURCE ID", "NAME", "STATE", "STATUS", "OS", "LAST HEARTBEAT"],
        ...res.sources.map((s) => [s.sourceId, s.name, s.state, s.errorCode ?? "", s.os ?? "", s.lastHeartbeatAt]),
      ]),
    );
    process.stdout.write(`${res.sources.length} of ${res.total} source(s)\n`);
  });
  withApiFlags(sources.command("show").description("Show one source server with its inventory").argument("<sourceId>", "the source server's id (hoist sources list)", idValue("<sourceId>"))).action(async (id: string, opts: ApiFlags) => {
    const s = await apiClient(opts).request<SourceServerDetail>("GET", `/v1/sources/${encodeURIComponent(id)}`);
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
      return;
    }
    const disks = s.inventory.disks.map((d) => `${d.name} ${(d.sizeBytes / 2 ** 30).toFixed(1)} GiB`).join(", ") || "—";
    process.stdout.write(
      `${s.sourceId}  ${s.name}\nState:          ${s.state}${s.errorCode ? ` (${s.errorCode}: ${s.statusInfo ?? ""})` : ""}\nOS:             ${s.os ?? "?"} ${s.arch ?? ""}\nBoot mode:      ${s.inventory.bootMode}\nDisks:          ${disks}\nUsed:           ${(s.inventory.usedBytes / 2 ** 30).toFixed(2)} GiB\nAgent:          ${s.agentVersion ?? "?"}, heartbeat every ${s.heartbeatSeconds} s, last ${s.lastHeartbeatAt}\nImported:       ${s.registeredAt} with ${s.activationCodeId ?? "a deleted code"}\n${s.inventoryError ? `Inventory note: ${s.inventoryError.code}: ${s.inventoryError.message}\n` : ""}`,
    );
  });
  withApiFlags(sources.command("rm").description("Delete a source server (its agent stops on its next heartbeat)").argument("<sourceId>", "the source server's id (hoist sources list)", idValue("<sourceId>"))).action(async (id: string, opts: ApiFlags) => {
    const r = await apiClient(opts).request<{ sourceId: string; state: string }>("DELETE", `/v1/sources/${encodeURIComponent(id)}`);
    process.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : `Deleted source server ${r.sourceId}\n`);
  });
}

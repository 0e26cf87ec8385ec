// `hoist images`: the images hoist server's replication jobs made, with the
// job and run each came from and whether it booted. (`hoist image` manages a
// local image store directly, without a server.)
import type { JobImage } from "@hoist/protocol";
import type { Command } from "commander";
import { type ApiFlags, apiClient, withApiFlags } from "./codes";
import { imagesTable } from "./job-view";

export function registerImagesCommand(program: Command): void {
  const images = program.command("images").description("Images made by replication jobs on hoist server (for a local image store, see hoist image).");
  withApiFlags(
    images
      .command("list")
      .description("List the server's images, newest first: name, job, run, boot verification, boot seconds")
      .option("--job <id>", "only the images of this job"),
  ).action(async (opts: ApiFlags & { job?: string }) => {
    const query = opts.job === undefined ? "" : `?${new URLSearchParams({ jobId: opts.job })}`;
    const res = await apiClient(opts).request<{ images: (JobImage & { JobId: string })[] }>("GET", `/v1/images${query}`);
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
      return;
    }
    process.stdout.write(res.images.length ? imagesTable(res.images, true) : "No images yet.\n");
  });
}

// The images replication jobs made, one at a time: what the provider knows
// about it (conversion report, boot log), a static image check on demand,
// and delete. Listing them is in job-routes (GET /v1/images).
import { HoistError, type JobImage } from "@hoist/protocol";
import type { Provider } from "@hoist/providers";
import type { Database } from "../db/database";
import { toImage, type ImageRow } from "../jobs/view";
import type { RequestContext, Route } from "./router";

export interface ImageRouteDeps {
  db: Database;
  /** Without one, images can be listed but not read, checked or deleted. */
  provider?: Provider | undefined;
}

const imageNotFound = (name: string): HoistError =>
  new HoistError("Image.NotFound", `no image named ${name} was made by this server's jobs`, { fix: "GET /v1/images lists the images (hoist images list)." });

const noProvider = (): HoistError =>
  new HoistError("Server.NoProvider", "this server runs without a provider, so it cannot reach its images", { fix: "Start hoist server with a provider (the local one is the default)." });

async function findImage(db: Database, ctx: RequestContext): Promise<ImageRow> {
  const name = ctx.params["imageName"] as string;
  const region = ctx.query.get("regionId");
  if (region !== null && !/^[a-z][a-z0-9-]{0,63}$/.test(region)) {
    throw new HoistError("Api.InvalidParameter", `regionId must be a region id such as local or cn-hangzhou (got ${JSON.stringify(region.slice(0, 64))})`, {
      fix: "Pass the RegionId the image list shows, or leave it out.",
    });
  }
  const rows = region
    ? await db.query<ImageRow>("select * from job_images where image_name = $1 and region_id = $2", [name, region])
    : await db.query<ImageRow>("select * from job_images where image_name = $1 order by created_at desc", [name]);
  if (rows.length > 1) {
    throw new HoistError("Image.Ambiguous", `images named ${name} exist in ${rows.length} regions`, { fix: `Pass regionId (one of ${rows.map((r) => r.region_id).join(", ")}).` });
  }
  if (!rows[0]) throw imageNotFound(name);
  return rows[0];
}

/** An image of a job whose current run may still write it cannot be deleted. */
async function busyWith(db: Database, row: ImageRow): Promise<string | null> {
  const jobs = await db.query<{ job_id: string }>("select job_id from replication_jobs where job_id = $1 and status = 'Running' and business_status in ('Processing', 'Cleaning')", [row.job_id]);
  return jobs[0]?.job_id ?? null;
}

const REGION_QUERY = [{ name: "regionId", description: "The image's region, when images of one name exist in several", schema: { type: "string", minLength: 1, maxLength: 64, pattern: "^[a-z][a-z0-9-]{0,63}$" } }];

export function imageRoutes(deps: ImageRouteDeps): Route[] {
  const { db } = deps;
  return [
    {
      method: "GET",
      path: "/v1/images/:imageName",
      operationId: "describeJobImage",
      summary: "One image a job made, with its boot verification, console log, conversion report (a diff per change) and source facts",
      auth: "apiKey",
      query: REGION_QUERY,
      responses: { 200: "The image with Detail (null when the provider keeps no details)", 404: "No such image" },
      errorCodes: ["Image.NotFound", "Image.Ambiguous", "Api.InvalidParameter"],
      async handle(ctx) {
        const row = await findImage(db, ctx);
        const image: JobImage & { JobId: string } = { JobId: row.job_id, ...toImage(row) };
        const detail = deps.provider?.describeImage ? await deps.provider.describeImage(row.image_name, row.region_id) : null;
        return { status: 200, body: { ...image, Detail: detail } };
      },
    },
    {
      method: "POST",
      path: "/v1/images/:imageName/check",
      operationId: "checkJobImage",
      summary: "Read the image's disks without booting them and report what would stop it booting (fstab, bootloader, initramfs with virtio, network)",
      auth: "apiKey",
      query: REGION_QUERY,
      responses: { 200: "{ ImageName, Findings: [{ severity, code, message, fix }] } (no findings: nothing wrong found)", 404: "No such image" },
      errorCodes: ["Image.NotFound", "Image.Ambiguous", "Image.CheckUnavailable", "Server.NoProvider", "Api.InvalidParameter"],
      async handle(ctx) {
        const row = await findImage(db, ctx);
        if (!deps.provider) throw noProvider();
        if (!deps.provider.checkImage) {
          throw new HoistError("Image.CheckUnavailable", `the ${deps.provider.name} provider cannot check images`, { fix: "Launch an instance from the image and look at it." });
        }
        const findings = await deps.provider.checkImage(row.image_name, row.region_id);
        return { status: 200, body: { ImageName: row.image_name, RegionId: row.region_id, Findings: findings } };
      },
    },
    {
      method: "DELETE",
      path: "/v1/images/:imageName",
      operationId: "deleteJobImage",
      summary: "Delete an image a job made, from the provider and from the list",
      auth: "apiKey",
      query: REGION_QUERY,
      responses: { 200: "{ ImageName, RegionId, Deleted: true }", 400: "The job that makes it is making or checking it now", 404: "No such image" },
      errorCodes: ["Image.NotFound", "Image.Ambiguous", "Image.InUse", "Server.NoProvider", "Api.InvalidParameter"],
      async handle(ctx) {
        const row = await findImage(db, ctx);
        if (!deps.provider) throw noProvider();
        const busy = await busyWith(db, row);
        if (busy) {
          throw new HoistError("Image.InUse", `job ${busy} is making or checking image ${row.image_name} now`, { fix: "Wait until the job's run ends (or cancel it), then delete the image." });
        }
        if (await deps.provider.imageExists(row.image_name, row.region_id)) await deps.provider.deleteImage(row.image_name, row.region_id);
        await db.query("delete from job_images where image_name = $1 and region_id = $2", [row.image_name, row.region_id]);
        return { status: 200, body: { ImageName: row.image_name, RegionId: row.region_id, Deleted: true } };
      },
    },
  ];
}

// The web console in headless Chromium (Debian's package, driven by
// playwright-core) against a real `hoist server` on its embedded database and
// the local provider, with a Debian 12 source imported by a real
// `hoist agent`. A person's path through it: sign in with the API key, import
// the source with the command the console shows, fill the migration form
// (first with bad values, which it refuses with the API's own messages), watch
// the copy move, pause and resume it with a new rate limit, and see it finish
// with an image that booted; then look at and delete the image and the source.
// Screenshots of each page go to test-output/screenshots.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseEverythingUnder } from "../helpers/cleanup";
import { writableDebianSource } from "../helpers/debian-fixture";
import { killAll, serverApi, type Spawned, spawnHoist, type StartedServer, startHoistServer } from "../helpers/server-cli";

const ROOT = join(import.meta.dirname, "../..");
const SHOTS = join(ROOT, "test-output/screenshots");
const base = mkdtempSync("/var/tmp/hoist-e2e-console-");
const home = join(base, "home");
const images = join(base, "images");
const source = join(base, "source");
const API_KEY = `hk_console-e2e-${Math.random().toString(36).slice(2)}abcdefghijklmnop`;

let server: StartedServer | undefined;
const { call: api } = serverApi(
  () => server,
  () => API_KEY,
);
let agent: Spawned | undefined;
let browser: Browser | undefined;
let page: Page;

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** The progress bar's value in a job card. */
async function progressOf(card: Locator): Promise<number> {
  return Number(await card.getByRole("progressbar").getAttribute("aria-valuenow"));
}

/** Waits (bounded) until `fn` holds, checking every half second; the page updates itself, nothing is reloaded. */
async function until(what: string, fn: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}\nserver log:\n${server?.stderr.slice(-30).join("\n")}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // The cached tree stays read-only under an overlay; the migration reads the merged view.
  await writableDebianSource(base);
  mkdirSync(join(source, "srv/app"), { recursive: true });
  writeFileSync(join(source, "srv/app/version"), "console\n");
  writeFileSync(join(source, "srv/app/removed-during-copy"), "gone before the copy ends\n");
  server = await startHoistServer(
    ["--data-dir", join(base, "server"), "--heartbeat-seconds", "1", "--offline-after-seconds", "60", "--verify-timeout", "600"],
    { HOIST_HOME: home, HOIST_IMAGE_STORE: images, HOIST_API_KEY: API_KEY },
  );
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(30_000);
}, 10 * 60_000);

afterAll(async () => {
  await browser?.close();
  await killAll(agent, server);
  releaseEverythingUnder(base, home);
});

describe("the web console", () => {
  it("signs in with the API key only, refusing a wrong one with the API's code", async () => {
    await page.goto(server?.url as string);
    await shot("01-sign-in");
    await page.getByLabel("API key").fill("hk_wrong-key");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByRole("alert").innerText()).toContain("Api.Unauthorized");
    await page.getByLabel("API key").fill(API_KEY);
    await page.getByLabel("API key").press("Enter");
    await page.getByRole("heading", { name: "Sources", level: 1 }).waitFor();
    await expect.poll(() => page.getByText("No sources yet").isVisible()).toBe(true);
    await expect.poll(() => page.locator(".link-state").innerText()).toBe("Live");
    // The key lives in this tab's sessionStorage, not in a cookie or the URL.
    expect(await page.evaluate(() => sessionStorage.getItem("hoist.apiKey"))).toBe(API_KEY);
    expect(page.url()).not.toContain(API_KEY);
    await shot("02-sources-empty");
  });

  it("imports a source: the activation code's rules, the one-line command, and the source coming online without a reload", async () => {
    // Keyboard only: the page's heading has the focus, the next stop is "Import source".
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Import source");
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "Import source" });
    await dialog.waitFor();
    await dialog.getByLabel("Uses").fill("1001");
    await dialog.getByLabel("Validity (days)").fill("1");
    await dialog.getByRole("button", { name: "Generate activation code" }).click();
    await expect.poll(() => dialog.getByRole("alert").innerText()).toContain("ActivationCode.InvalidUses uses must be a whole number from 1 to 1000 (got 1001)");
    await shot("03-import-invalid");
    await dialog.getByLabel("Uses").fill("1");
    await dialog.getByRole("button", { name: "Generate activation code" }).click();
    const command = await dialog.getByLabel("Run this as root on the source server:").inputValue();
    expect(command).toContain(`--server ${server?.url}`);
    await shot("04-import-command");
    await dialog.getByRole("button", { name: "Copy command" }).click();
    await expect.poll(() => dialog.getByRole("button", { name: "Copied" }).isVisible()).toBe(true);
    await dialog.getByRole("button", { name: "Close" }).click();

    // Run what the command runs (the agent), against the test's source tree.
    const code = /--activation-code (\S+)/.exec(command)?.[1] as string;
    agent = spawnHoist(["agent", "--server", server?.url as string, "--source-root", source, "--activation-code", code, "--state-dir", join(base, "agent")]);
    const row = page.locator("tr[data-source-id]");
    await until("the source to show up Available", async () => (await row.count()) === 1 && (await row.innerText()).includes("Available"), 120_000);
    const text = await row.innerText();
    expect(text).toContain("Debian GNU/Linux 12");
    expect(text).toMatch(/\d+(\.\d)? (MiB|GiB)/);
    expect(text).toMatch(/just now|\d+ s ago/);
    await shot("05-sources");
  }, 5 * 60_000);

  it("refuses bad values in the migration form with the API's codes and messages, beside each field", async () => {
    await page.locator("tr[data-source-id]").getByRole("button", { name: "Start migration" }).click();
    await page.getByRole("heading", { name: "Start migration" }).waitFor();
    // Defaults come from the source's inventory.
    expect(Number(await page.getByLabel("System disk size (GiB)").inputValue())).toBeGreaterThanOrEqual(20);
    for (const legend of ["Basic", "Disk partition structure", "Mount points"]) await page.getByRole("group", { name: legend }).waitFor();

    await page.getByLabel("Migration job name").fill("");
    await page.getByLabel("Image name (optional)").fill("9-starts-with-a-digit");
    await page.getByLabel("System disk size (GiB)").fill("5");
    await page.getByRole("button", { name: "Add data disk" }).click();
    await page.getByLabel("Data disk 1 Source folder").fill("srv/app");
    await page.getByText("Advanced settings").click();
    await page.getByLabel("Rate limit (Mbit/s)").fill("fast");
    await page.getByLabel("Compression ratio").fill("11");
    await page.getByLabel("SSL encryption").selectOption("Off");
    await page.getByRole("button", { name: "Start migration" }).click();

    const summary = page.locator(".error-summary");
    await summary.waitFor();
    const messages = {
      Name: 'Name must be text of 1–128 characters, without control characters, not starting with http:// or https:// (got "")',
      ImageName: 'ImageName must be 2–96 letters, digits, ".", "_" or "-", starting with a letter (got "9-starts-with-a-digit")',
      SystemDiskSize: "SystemDiskSize must be a whole number of GiB from 20 to 2048 (got 5)",
      DataDisks: 'DataDisks[0].SourcePath must be an absolute folder of at most 4096 characters written without "..", "." or a trailing "/" (got "srv/app")',
      RateLimit: 'RateLimit must be a whole number of Mbit/s from 0 to 100000 (got "fast")',
      CompressLevel: "CompressLevel must be a whole number from 0 to 10 (got 11)",
      Ssl: 'Ssl "Off" is not offered: data always travels in TLS',
    };
    expect(await summary.innerText()).toContain("7 problems to fix");
    for (const [field, message] of Object.entries(messages)) {
      expect(await page.locator(`#err-${field}`).innerText(), field).toContain(message);
    }
    expect(await page.locator("#err-RateLimit").innerText()).toContain("ReplicationJob.InvalidRateLimit");
    expect(await page.getByLabel("Compression ratio").getAttribute("aria-invalid")).toBe("true");
    // The same body sent to the API is refused with the first of these messages: one set of rules.
    const sourceId = (await api<{ sources: { sourceId: string }[] }>("GET", "/v1/sources")).body.sources[0]?.sourceId;
    const refused = await api<{ code: string; message: string }>("POST", "/v1/jobs", { SourceId: sourceId, Name: "", ImageName: "9-starts-with-a-digit", SystemDiskSize: 5, RateLimit: "fast" });
    expect(refused).toMatchObject({ status: 400, body: { code: "ReplicationJob.InvalidName", message: messages.Name } });
    expect((await api<{ total: number }>("GET", "/v1/jobs")).body.total).toBe(0);
    await shot("06-migration-form-errors");
    await page.setViewportSize({ width: 390, height: 844 });
    await shot("07-migration-form-errors-phone");
    await page.setViewportSize({ width: 1280, height: 900 });

    // Following a link in the summary puts the focus on the field.
    await summary.getByRole("link", { name: /^CompressLevel:/ }).click();
    expect(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name)).toBe("CompressLevel");

    // Onto an existing ECS instance: the instance id field appears and is checked by the same rules.
    await page.getByLabel("Destination type").selectOption("TargetInstance");
    const instanceField = page.getByLabel("Destination instance id");
    await instanceField.waitFor();
    await until("the InstanceId problem to show", async () => (await page.locator("#err-InstanceId").innerText()).includes("ReplicationJob.InvalidInstanceId"), 10_000);
    expect(await page.locator("#err-InstanceId").innerText()).toContain('TargetType "TargetInstance" needs InstanceId: the existing ECS instance to migrate onto');
    await instanceField.fill("web-1");
    await until("the shape problem to show", async () => (await page.locator("#err-InstanceId").innerText()).includes('(got "web-1")'), 10_000);
    await instanceField.fill("i-bp1abcd2efgh3ijk4lmn");
    await until("the InstanceId problem to go", async () => (await page.locator("#err-InstanceId").innerText()) === "", 10_000);
    await shot("06b-migration-form-instance");
    // This server runs the local provider, which makes images only: the API says so, with the fix.
    const onto = await api<{ code: string; message: string; fix: string }>("POST", "/v1/jobs", { SourceId: sourceId, TargetType: "TargetInstance", InstanceId: "i-bp1abcd2efgh3ijk4lmn" });
    expect(onto).toMatchObject({ status: 400, body: { code: "ReplicationJob.UnsupportedTargetType", message: expect.stringContaining("the local provider makes images only"), fix: expect.stringContaining("--provider alibaba") } });
    await page.getByLabel("Destination type").selectOption("Image");
    expect(await instanceField.isHidden()).toBe(true);
  });

  it("starts a migration from the form, shows the copy moving, pauses and resumes it with a new rate limit, and finishes with a verified image", async () => {
    await page.getByLabel("Migration job name").fill("web-console");
    await page.getByLabel("Image name (optional)").fill("web-console");
    await page.getByLabel("System disk size (GiB)").fill("20");
    await page.getByRole("button", { name: "Remove data disk 1" }).click();
    // Slow enough to watch and pause: the source is about 800 MB.
    await page.getByLabel("Rate limit (Mbit/s)").fill("60");
    await page.getByLabel("Compression ratio").fill("0");
    await page.getByLabel("SSL encryption").selectOption("Auto");
    await page.getByRole("button", { name: "Start migration" }).click();
    await page.getByRole("heading", { name: "Jobs", level: 1 }).waitFor();

    const card = page.locator("article.job", { hasText: "web-console" });
    await until("the copy to start", async () => (await card.innerText()).includes("Syncing") && (await progressOf(card)) > 0, 5 * 60_000);
    const first = await progressOf(card);
    await until("the progress bar to move", async () => (await progressOf(card)) > first + 2, 3 * 60_000);
    const facts = await card.innerText();
    expect(facts).toMatch(/Mbit\/s/);
    expect(await card.locator(".eta").innerText()).toMatch(/\d+ (s|min)/);
    await shot("08-job-syncing");
    await page.setViewportSize({ width: 390, height: 844 });
    await shot("09-job-syncing-phone");
    await page.setViewportSize({ width: 1280, height: 900 });

    // Pause: the job stops where it is.
    await card.getByRole("button", { name: "Pause" }).click();
    await until("the job to be paused", async () => (await card.locator(".badge").first().innerText()) === "Stopped", 60_000);
    const paused = await progressOf(card);
    await shot("10-job-paused");
    await new Promise((r) => setTimeout(r, 3000));
    expect(await progressOf(card)).toBe(paused);

    // Modify: a bad value is refused in the dialog with the API's message, then the limit is raised.
    await card.getByRole("button", { name: "Modify" }).click();
    const modify = page.getByRole("dialog", { name: /^Modify/ });
    await modify.getByLabel("Rate limit (Mbit/s)").fill("-1");
    await modify.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => modify.getByRole("alert").innerText()).toContain("RateLimit must be a whole number of Mbit/s from 0 to 100000 (got -1)");
    await modify.getByLabel("Rate limit (Mbit/s)").fill("120");
    await modify.getByRole("button", { name: "Save" }).click();
    await modify.waitFor({ state: "detached" });
    await until("the new rate limit to show", async () => (await card.innerText()).includes("rate 120 Mbit/s"), 30_000);

    await card.getByRole("button", { name: "Resume" }).click();
    await until("the job to run again", async () => (await card.locator(".badge").first().innerText()) === "Running", 60_000);
    // The source changes while the resumed copy runs: the finished job says what the copy could not hold still.
    await until("the copy to move again", async () => (await progressOf(card)) > paused + 1, 3 * 60_000);
    writeFileSync(join(source, "srv/app/added-during-copy"), "new while copying\n");
    rmSync(join(source, "srv/app/removed-during-copy"));
    await until("the job to finish", async () => (await card.locator(".badge").first().innerText()) === "Finished", 12 * 60_000);
    expect(await progressOf(card)).toBe(100);
    const image = card.locator(".job-image");
    expect(await image.innerText()).toMatch(/web-console\s+booted\s+booted in \d+/);
    const changes = card.locator(".job-changes");
    expect(await changes.innerText()).toContain("during the copy of run 1: 1 appeared, 1 vanished; the next sync brings them over");
    await changes.getByText("Paths", { exact: true }).click();
    expect((await changes.locator("li").allInnerTexts()).sort()).toEqual(["appeared /srv/app/added-during-copy", "vanished /srv/app/removed-during-copy"]);
    await shot("11-job-finished");
  }, 25 * 60_000);

  it("shows the image's verification, boot log and conversion report, and deletes the image and the source", async () => {
    await page.getByRole("link", { name: "Images", exact: true }).click();
    const row = page.locator('tr[data-image="web-console"]');
    await row.waitFor();
    expect(await row.innerText()).toContain("booted");
    await shot("12-images");

    await row.getByRole("link", { name: "web-console" }).click();
    await page.getByRole("heading", { name: "Image web-console" }).waitFor();
    await page.getByRole("heading", { name: "Verification" }).waitFor();
    expect(await page.locator(".verification").innerText()).toContain("Verified: booted to multi-user");
    expect(await page.locator(".facts").innerText()).toMatch(/All filesystems mounted\s+yes/);
    // The guest's own report of its mounts, or systemd's line, is what proved the boot.
    expect(await page.locator("pre.console-log").innerText()).toMatch(/HOIST-VERIFY mounts=|Reached target .*multi-user/i);
    expect(await page.locator("ol.steps > li").count()).toBeGreaterThan(0);
    await page.getByRole("button", { name: "Run image check" }).click();
    await expect.poll(() => page.locator(".card").first().innerText(), { timeout: 120_000 }).toMatch(/Image check passed|Critical|Warning/);
    await shot("13-image-detail");

    await page.getByRole("button", { name: "Delete image" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete image" }).click();
    await page.getByRole("heading", { name: "Images", level: 1 }).waitFor();
    await expect.poll(() => page.getByText("No images yet").isVisible()).toBe(true);
    expect(existsSync(join(images, "web-console"))).toBe(false);
    await shot("14-images-empty");

    await page.getByRole("link", { name: "Sources", exact: true }).click();
    const source = page.locator("tr[data-source-id]");
    await until("the source to be free again", async () => (await source.innerText()).includes("Available"), 60_000);
    await source.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete source" }).click();
    await expect.poll(() => page.getByText("No sources yet").isVisible(), { timeout: 30_000 }).toBe(true);
  }, 5 * 60_000);
});

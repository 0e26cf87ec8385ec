// The console's live updates in headless Chromium, against `hoist server`
// allowing one event stream: the first tab gets the stream, the second falls
// back to polling, and both show a source importing and then going offline
// without a reload; when the first tab closes, the second takes the stream.
// Also the empty states of the jobs and images pages. Screenshots go to
// test-output/screenshots.
import { mkdirSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseEverythingUnder } from "../helpers/cleanup";
import { writableDebianSource } from "../helpers/debian-fixture";
import { killAll, type Spawned, spawnHoist, type StartedServer, startHoistServer, stop } from "../helpers/server-cli";

const ROOT = join(import.meta.dirname, "../..");
const SHOTS = join(ROOT, "test-output/screenshots");
const base = mkdtempSync("/var/tmp/hoist-e2e-console-live-");
const source = join(base, "source");
const API_KEY = `hk_console-live-${Math.random().toString(36).slice(2)}abcdefghijklmnop`;

let server: StartedServer | undefined;
let agent: Spawned | undefined;
let browser: Browser | undefined;

async function signIn(): Promise<Page> {
  const context = await (browser as Browser).newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  await page.goto(server?.url as string);
  await page.getByLabel("API key").fill(API_KEY);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Sources", level: 1 }).waitFor();
  return page;
}

const linkState = (page: Page) => page.locator(".link-state").innerText();
const sourceRow = (page: Page) => page.locator("tr[data-source-id]");

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  await writableDebianSource(base);
  server = await startHoistServer(
    ["--data-dir", join(base, "server"), "--no-jobs", "--max-event-streams", "1", "--heartbeat-seconds", "1", "--offline-after-seconds", "3"],
    { HOIST_API_KEY: API_KEY },
  );
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
}, 10 * 60_000);

afterAll(async () => {
  await browser?.close();
  await killAll(agent, server);
  releaseEverythingUnder(base, join(base, "home"));
});

describe("the console's live updates", () => {
  it("streams to one tab and polls in another, and both follow a source coming online and going offline", async () => {
    const streaming = await signIn();
    await expect.poll(() => linkState(streaming)).toBe("Live");
    const polling = await signIn();
    await expect.poll(() => linkState(polling)).toBe("Polling");

    await polling.getByRole("link", { name: "Jobs", exact: true }).click();
    await polling.getByText("No replication jobs").waitFor();
    await polling.screenshot({ path: join(SHOTS, "20-jobs-empty-polling.png") });
    await polling.getByRole("link", { name: "Sources", exact: true }).click();

    const code = (await (await fetch(`${server?.url}/v1/activation-codes`, { method: "POST", headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" }, body: "{}" })).json()) as { code: string };
    agent = spawnHoist(["agent", "--server", server?.url as string, "--source-root", source, "--activation-code", code.code, "--state-dir", join(base, "agent")]);
    for (const page of [streaming, polling]) {
      await expect.poll(async () => ((await sourceRow(page).count()) === 1 ? sourceRow(page).innerText() : ""), { timeout: 120_000 }).toContain("Available");
    }

    // The agent dies: after three missed heartbeats the source is offline, on both tabs.
    await stop(agent, "SIGKILL");
    for (const page of [streaming, polling]) {
      await expect.poll(() => sourceRow(page).innerText(), { timeout: 30_000 }).toMatch(/Unavailable[\s\S]*SourceServer\.Offline/);
    }
    // The last heartbeat keeps ageing on screen although nothing about the source changes any more.
    await expect.poll(() => sourceRow(polling).locator("time").innerText(), { timeout: 20_000 }).toMatch(/^(\d+) s ago$/);
    await polling.screenshot({ path: join(SHOTS, "21-source-offline-polling.png") });
    await polling.setViewportSize({ width: 390, height: 844 });
    await polling.screenshot({ path: join(SHOTS, "22-source-offline-phone.png"), fullPage: true });
    expect(await sourceRow(polling).getByRole("button", { name: "Start migration" }).isDisabled()).toBe(true);

    // The streaming tab closes; the other one gets the stream at its next try.
    await streaming.context().close();
    await expect.poll(() => linkState(polling), { timeout: 40_000 }).toBe("Live");
  }, 5 * 60_000);

  it("goes back to sign-in when the server stops accepting the key", async () => {
    const page = await signIn();
    // As if the key were revoked: the next read the page makes is refused, and it asks for a key again.
    await page.evaluate(() => sessionStorage.setItem("hoist.apiKey", "hk_revoked-key"));
    await page.getByLabel("API key").waitFor();
    await expect.poll(() => page.getByRole("alert").innerText()).toContain("Api.Unauthorized");
    expect(await page.evaluate(() => sessionStorage.getItem("hoist.apiKey"))).toBeNull();
  });
});

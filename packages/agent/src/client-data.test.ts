import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateUserConfig } from "@hoist/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type ClientData,
  clearClientData,
  loadClientData,
  loadClientToken,
  newClientData,
  resumeOrStart,
  saveClientData,
  saveClientToken,
  updateDisk,
} from "./client-data";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hoist-client-data-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const ACCESS_ID = "LTAI5tQwErTyUiOp";
const SECRET_KEY = "s3cretKeyValue0123456789";
const TOKEN = "a".repeat(32) + "b".repeat(32);

function settings(extra: Record<string, unknown> = {}) {
  const r = validateUserConfig({
    image_name: "img-1",
    region_id: "cn-hangzhou",
    access_id: ACCESS_ID,
    secret_key: SECRET_KEY,
    system_disk_size: 40,
    data_disks: [{ data_disk_index: 1, data_disk_size: 100, src_path: "/data" }],
    ...extra,
  });
  expect(r.problems).toEqual([]);
  return r.config!;
}

const instance = { provider: "local", instanceId: "i-local-1", host: "127.0.0.1", controlPort: 8080, dataPort: 8703, fingerprint: "f".repeat(64) };

describe("client_data", () => {
  it("round-trips through an atomic 0600 file and holds no secrets", () => {
    let data: ClientData = { ...newClientData(settings()), jobId: "j-0123456789abcdef", intermediateInstance: instance, stage: "DoRsync" };
    data = updateDisk(data, "data1", { state: "copying", bytesDone: 1024, bytesTotal: 4096 });
    saveClientData(dir, data, [ACCESS_ID, SECRET_KEY, TOKEN]);
    saveClientToken(dir, TOKEN);
    const file = join(dir, "client_data");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, ".client_token")).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, "utf8");
    for (const secret of [ACCESS_ID, SECRET_KEY, TOKEN]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/token|secret|access_?id/i);
    const back = loadClientData(dir)!;
    expect(back).toMatchObject({ jobId: "j-0123456789abcdef", imageName: "img-1", region: "cn-hangzhou", stage: "DoRsync", intermediateInstance: instance });
    expect(back.disks.map((d) => [d.key, d.state, d.bytesDone])).toEqual([
      ["system", "pending", 0],
      ["data1", "copying", 1024],
    ]);
    expect(loadClientToken(dir)).toBe(TOKEN);
    expect(readdirSync(dir).sort()).toEqual([".client_token", "client_data"]);
  });

  it("refuses to save a secret that slipped into a field", () => {
    const data = { ...newClientData(settings()), imageName: `x${SECRET_KEY}` };
    expect(() => saveClientData(dir, data, [SECRET_KEY])).toThrow(expect.objectContaining({ code: "ClientData.SecretLeak" }));
    expect(readdirSync(dir)).toEqual([]);
  });

  it("refuses unknown fields so nothing else can be stored in it", () => {
    const data = { ...newClientData(settings()), secret_key: SECRET_KEY } as never;
    expect(() => saveClientData(dir, data)).toThrow();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("treats a missing or empty file as no migration", () => {
    expect(loadClientData(dir)).toBeUndefined();
    writeFileSync(join(dir, "client_data"), "");
    expect(loadClientData(dir)).toBeUndefined();
    expect(resumeOrStart(dir, settings()).resumed).toBe(false);
  });

  it.each([["{not json"], ['{"version": 1}'], ['{"version": 99}'], ["[1]"]])("reports %j as ClientData.Corrupt with --cleardata as the fix", (text) => {
    writeFileSync(join(dir, "client_data"), text);
    expect(() => loadClientData(dir)).toThrow(expect.objectContaining({ code: "ClientData.Corrupt", fix: expect.stringContaining("--cleardata") }));
  });

  it("resumes with the same disk settings and refuses changed ones", () => {
    saveClientData(dir, { ...newClientData(settings()), stage: "DoRsync" });
    expect(resumeOrStart(dir, settings({ image_name: "renamed", bandwidth_limit: 100 }))).toMatchObject({ resumed: true, data: { imageName: "renamed", stage: "DoRsync" } });
    for (const changed of [{ system_disk_size: 41 }, { data_disks: [{ data_disk_index: 1, data_disk_size: 200, src_path: "/data" }] }, { data_disks: [] }, { region_id: "cn-beijing" }]) {
      expect(() => resumeOrStart(dir, settings(changed))).toThrow(expect.objectContaining({ code: "ClientData.SettingsChanged", fix: expect.stringContaining("--cleardata") }));
    }
  });

  it("clears the state and the token", () => {
    saveClientData(dir, newClientData(settings()));
    saveClientToken(dir, TOKEN);
    clearClientData(dir);
    expect(readdirSync(dir)).toEqual([]);
    expect(loadClientToken(dir)).toBeUndefined();
  });
});

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HoistError } from "@hoist/protocol";
import { createLogger } from "@hoist/runtime";
import { Command } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { codeOf } from "../../../../test/helpers/errors";
import { addServerProviderOptions, defaultRegion, type ServerProviderFlags, serverProvider } from "./server-provider";

const dir = mkdtempSync(join(tmpdir(), "hoist-server-provider-"));
const SECRET = `secret-${Math.random().toString(36).slice(2)}`;
const goodFile = join(dir, "credentials");
writeFileSync(goodFile, `[default]\naccess_key_id = LTAI5tServerProvider\naccess_key_secret = ${SECRET}\n`, { mode: 0o600 });
const openFile = join(dir, "credentials-open");
writeFileSync(openFile, `[default]\naccess_key_id = LTAI5tServerProvider\naccess_key_secret = ${SECRET}\n`);
chmodSync(openFile, 0o644);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function logger() {
  let out = "";
  const sink = {
    write(s: string) {
      out += s;
      return true;
    },
  };
  const log = createLogger({ console: sink as unknown as NodeJS.WritableStream, consoleLevel: "debug" });
  return { log, output: () => out };
}

const alibaba = (extra: Partial<ServerProviderFlags> = {}): ServerProviderFlags => ({ provider: "alibaba", credentialsFile: goodFile, receiverBundleUrl: "https://bundles.example.invalid/hoist.mjs", ...extra });

describe("hoist server's provider flags", () => {
  it("parse to the provider, its default region and the receiver ports, refusing bad values with their codes", () => {
    const parse = (args: string[]) => addServerProviderOptions(new Command().exitOverride()).parse(args, { from: "user" }).opts<ServerProviderFlags>();
    expect(parse([])).toMatchObject({ provider: "local" });
    expect(parse(["--provider", "alibaba", "--receiver-ports", "20000,20001"])).toMatchObject({ provider: "alibaba", receiverPorts: { control: 20000, data: 20001 } });
    expect(codeOf(() => parse(["--provider", "gcp"]))).toBe("Config.InvalidProvider");
    expect(codeOf(() => parse(["--region", "CN_Hangzhou"]))).toBe("Config.InvalidRegion");
    expect(codeOf(() => parse(["--receiver-ports", "8080,8080"]))).toBe("Config.InvalidReceiverPorts");
    expect(codeOf(() => parse(["--receiver-bundle-url", "ftp://x/hoist.mjs"]))).toBe("Config.InvalidReceiverBundleUrl");
    expect(codeOf(() => parse(["--endpoint-override", "not a url"]))).toBe("Config.InvalidEndpointOverride");
    expect(defaultRegion({ provider: "local" })).toBe("local");
    expect(defaultRegion({ provider: "alibaba" })).toBe("cn-hangzhou");
    expect(defaultRegion({ provider: "alibaba", region: "ap-southeast-1" })).toBe("ap-southeast-1");
  });

  it("refuses Alibaba Cloud flags without --provider alibaba, and an Alibaba provider without what it needs", () => {
    const { log } = logger();
    expect(codeOf(() => serverProvider({ provider: "local", credentialsFile: goodFile }, log))).toBe("Config.FlagNeedsProvider");
    expect(codeOf(() => serverProvider({ provider: "local", endpointOverride: "http://127.0.0.1:1" }, log))).toBe("Config.FlagNeedsProvider");
    expect(codeOf(() => serverProvider(alibaba({ region: "local" }), log))).toBe("Config.InvalidRegion");
    const saved = process.env["HOIST_BUNDLE_URL"];
    delete process.env["HOIST_BUNDLE_URL"];
    try {
      const { receiverBundleUrl: _, ...noBundle } = alibaba();
      expect(codeOf(() => serverProvider(noBundle, log))).toBe("Config.NoReceiverBundle");
    } finally {
      if (saved !== undefined) process.env["HOIST_BUNDLE_URL"] = saved;
    }
  });

  it("reads the AccessKey only from a file its owner alone can read, and never logs the secret", () => {
    const { log, output } = logger();
    let err: unknown;
    try {
      serverProvider(alibaba({ credentialsFile: openFile }), log);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HoistError);
    expect((err as HoistError).code).toBe("Credentials.FileTooOpen");
    expect(`${(err as HoistError).message} ${(err as HoistError).fix}`).not.toContain(SECRET);
    expect(codeOf(() => serverProvider(alibaba({ credentialsFile: join(dir, "missing") }), log))).toBe("Credentials.Missing");

    const provider = serverProvider(alibaba(), log);
    expect(provider.name).toBe("alibaba");
    log.info("a line that quotes the secret", { secret: SECRET });
    expect(output()).toContain(goodFile);
    expect(output()).not.toContain(SECRET);
  });
});

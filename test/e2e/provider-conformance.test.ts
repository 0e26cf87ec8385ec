// Both providers pass the same conformance suite: the local one on this host,
// the Alibaba Cloud one against the contract fake of its endpoints.
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createAlibabaProvider, createLocalProvider } from "@hoist/providers";
import { providerConformance } from "@hoist/providers/testing";
import { releaseEverythingUnder } from "../helpers/cleanup";
import { FakeAlibabaAccount } from "../helpers/alibaba-fake-account";

process.env["HOIST_BIN"] = join(import.meta.dirname, "..", "..", "apps/hoist/bin/hoist");

providerConformance("local", async () => {
  const base = mkdtempSync("/var/tmp/hoist-conf-local-");
  const home = join(base, "home");
  return {
    provider: createLocalProvider({ home, imageStore: join(base, "images") }),
    region: "local",
    cleanup: async () => releaseEverythingUnder(base, home),
  };
});

providerConformance("alibaba", async () => {
  const base = mkdtempSync("/var/tmp/hoist-conf-alibaba-");
  const account = new FakeAlibabaAccount(base, "LTAI5tConformance", "s");
  const fake = await account.start();
  const control = account.controlPort;
  return {
    provider: createAlibabaProvider({
      credentials: { accessKeyId: account.accessKeyId, accessKeySecret: account.accessKeySecret, source: "test" },
      regionId: "cn-hangzhou",
      endpointOverride: fake.endpoint,
      receiverBundleUrl: "https://example.invalid/hoist.mjs",
      receiverPorts: { control, data: control + 1 },
      pollIntervalMs: 10,
      waitTimeoutMs: 60_000,
    }),
    region: "cn-hangzhou",
    cleanup: async () => {
      await account.close();
      rmSync(base, { recursive: true, force: true });
    },
  };
});

import { describe, expect, it } from "vitest";
import { originalUserData, parseUserData, renderUserData } from "./user-data";

const boot = {
  certPem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
  keyPem: "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
  adminToken: "0123456789abcdef",
  controlPort: 8080,
  dataPort: 8703,
  bundleUrl: "https://bundles.example.invalid/hoist.mjs",
};

describe("intermediate instance user data", () => {
  it("keeps a destination's own user data and gives it back byte for byte", () => {
    const own = Buffer.from("#cloud-config\nruncmd:\n  - echo hello\n").toString("base64");
    const script = renderUserData(boot, own);
    expect(originalUserData(script)).toBe(own);
    // The receiver's facts are still read from the same script.
    expect(parseUserData(script).adminToken).toBe(boot.adminToken);
  });

  it("keeps an empty original as empty", () => {
    expect(originalUserData(renderUserData(boot, ""))).toBe("");
  });

  it("tells the instance's own user data from Hoist's script", () => {
    expect(originalUserData("#!/bin/sh\necho mine\n")).toBeNull();
    expect(originalUserData("")).toBeNull();
    // A script of Hoist's own intermediate instance keeps nothing: restoring it means clearing it.
    expect(originalUserData(renderUserData(boot))).toBe("");
  });

  it("does not take Hoist's script for the original when a rerun renders again", () => {
    const own = Buffer.from("#!/bin/bash\necho mine\n").toString("base64");
    const first = renderUserData(boot, own);
    const again = renderUserData({ ...boot, adminToken: "fedcba9876543210" }, originalUserData(first) ?? "");
    expect(originalUserData(again)).toBe(own);
    expect(Buffer.from(originalUserData(again) ?? "", "base64").toString("utf8")).not.toContain(boot.adminToken);
  });
});

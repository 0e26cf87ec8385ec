import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { codeOf } from "../../../../test/helpers/errors";
import { resolveCredentials } from "./credentials";

const dir = mkdtempSync(join(tmpdir(), "hoist-creds-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("Alibaba Cloud credentials", () => {
  it("takes the configuration first, then the environment, then the file", () => {
    const file = join(dir, "credentials");
    writeFileSync(file, "[default]\naccess_key_id = LTAIfile\naccess_key_secret = file-secret\n", { mode: 0o600 });
    const env = { ALIBABA_CLOUD_ACCESS_KEY_ID: "LTAIenv", ALIBABA_CLOUD_ACCESS_KEY_SECRET: "env-secret" };
    expect(resolveCredentials({ accessKeyId: "LTAIcfg", accessKeySecret: "cfg-secret", env, file })).toMatchObject({ accessKeyId: "LTAIcfg", source: "config" });
    expect(resolveCredentials({ env, file })).toMatchObject({ accessKeyId: "LTAIenv", accessKeySecret: "env-secret", source: "environment" });
    expect(resolveCredentials({ env: {}, file })).toMatchObject({ accessKeyId: "LTAIfile", accessKeySecret: "file-secret", source: file });
  });

  it("refuses a credentials file other users can read, and says how to fix it", () => {
    const file = join(dir, "open");
    writeFileSync(file, "[default]\naccess_key_id = a\naccess_key_secret = b\n");
    chmodSync(file, 0o644);
    expect(codeOf(() => resolveCredentials({ env: {}, file }))).toBe("Credentials.FileTooOpen");
    chmodSync(file, 0o640);
    expect(codeOf(() => resolveCredentials({ env: {}, file }))).toBe("Credentials.FileTooOpen");
    chmodSync(file, 0o400);
    expect(resolveCredentials({ env: {}, file }).accessKeyId).toBe("a");
  });

  it("names what is missing without ever echoing a secret", () => {
    expect(codeOf(() => resolveCredentials({ env: {}, file: join(dir, "absent") }))).toBe("Credentials.Missing");
    expect(codeOf(() => resolveCredentials({ accessKeyId: "LTAIonly", env: {} }))).toBe("Credentials.Incomplete");
    const file = join(dir, "nokey");
    writeFileSync(file, "[default]\naccess_key_id = a\n", { mode: 0o600 });
    expect(codeOf(() => resolveCredentials({ env: {}, file }))).toBe("Credentials.Invalid");
  });
});

import { describe, expect, it } from "vitest";
import { apiFailure, backoffMs, DEFAULT_RETRY, isTransient, toHoistError } from "./errors";

const f = (product: string, action: string, code: string) => ({ product, action, code, message: "m" });

describe("Alibaba Cloud error codes", () => {
  it("name the missing RAM policy of the product that refused", () => {
    expect(toHoistError(f("ecs", "RunInstances", "Forbidden.RAM")).message).toContain("AliyunECSFullAccess");
    expect(toHoistError(f("vpc", "CreateVpc", "Forbidden.RAM")).message).toContain("AliyunVPCFullAccess");
  });

  it("map the seed's account errors to stable codes with a fix", () => {
    const cases: [string, string][] = [
      ["InvalidAccountStatus.NotEnoughBalance", "Alibaba.NotEnoughBalance"],
      ["Account.Arrearage", "Alibaba.NotEnoughBalance"],
      ["Forbidden.Subuser", "Alibaba.ForbiddenSubuser"],
      ["Forbidden.SubUser", "Alibaba.ForbiddenSubuser"],
      ["QuotaExceed.PostPaidInstance", "Alibaba.QuotaExceeded"],
      ["OperationDenied.NoStock", "Alibaba.OutOfStock"],
      ["InvalidAccessKeyId.NotFound", "Credentials.Rejected"],
      ["Throttling.User", "Alibaba.Unavailable"],
      ["SomethingElse", "Alibaba.ApiError"],
    ];
    for (const [api, code] of cases) {
      const e = toHoistError(f("ecs", "RunInstances", api));
      expect(e.code, api).toBe(code);
      expect(e.fix, api).toBeTruthy();
    }
  });

  it("retry only what can succeed unchanged, with growing pauses", () => {
    expect(isTransient(f("ecs", "X", "Throttling"))).toBe(true);
    expect(isTransient(f("ecs", "X", "Forbidden.RAM"))).toBe(false);
    // The SDK's timeouts have no code, only their message: they are network errors, sent again.
    const timeout = Object.assign(new Error("ConnectTimeout: Connect http://ecs.cn-hangzhou.aliyuncs.com/ failed."), { name: "RequestTimeoutError" });
    expect(apiFailure("ecs", "RunInstances", timeout).code).toBe("ConnectTimeout");
    expect(isTransient(apiFailure("ecs", "RunInstances", timeout))).toBe(true);
    expect(isTransient(apiFailure("ecs", "RunInstances", new Error("ReadTimeout(60000). POST http://x/ failed.")))).toBe(true);
    expect(isTransient(apiFailure("ecs", "RunInstances", new Error("something else")))).toBe(false);
    const waits = [0, 1, 2, 3, 4].map((n) => backoffMs({ ...DEFAULT_RETRY, maxDelayMs: 1e9 }, n));
    for (let i = 0; i < waits.length; i++) {
      expect(waits[i]!).toBeGreaterThanOrEqual((DEFAULT_RETRY.baseDelayMs * 2 ** i) / 2);
      expect(waits[i]!).toBeLessThanOrEqual(DEFAULT_RETRY.baseDelayMs * 2 ** i);
    }
  });
});

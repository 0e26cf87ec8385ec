import { describe, expect, it } from "vitest";
import { FailureThrottle } from "./throttle";

describe("FailureThrottle", () => {
  it("lets a few failures through, then doubles the wait per failure up to the cap", () => {
    const t = new FailureThrottle({ freeFailures: 2, baseDelayMs: 100, maxDelayMs: 1000 });
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      waits.push(t.delayFor("10.0.0.1", 0));
      t.fail("10.0.0.1", 0);
    }
    expect(waits).toEqual([0, 0, 100, 200, 400, 800, 1000, 1000]);
    expect(t.delayFor("10.0.0.2", 0)).toBe(0);
  });

  it("forgets failures after a success or after the window", () => {
    const t = new FailureThrottle({ freeFailures: 1, baseDelayMs: 50, windowMs: 1000 });
    t.fail("a", 0);
    expect(t.delayFor("a", 10)).toBe(50);
    expect(t.delayFor("a", 2000)).toBe(0);
    t.fail("a", 0);
    t.succeed("a");
    expect(t.delayFor("a", 10)).toBe(0);
  });

  it("stays bounded under many addresses", () => {
    const t = new FailureThrottle({ maxAddresses: 100 });
    for (let i = 0; i < 1000; i++) t.fail(`addr-${i}`, 0);
    expect((t as unknown as { entries: Map<string, unknown> }).entries.size).toBeLessThanOrEqual(100);
  });
});

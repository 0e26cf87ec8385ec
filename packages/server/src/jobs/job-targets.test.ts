// What a server's jobs may target follows from its provider, and a
// TargetInstance job's placement names its destination, so every provider
// call for the job acts on that instance.
import { checkCreateJob, type ReplicationJobSettings } from "@hoist/protocol";
import { createAlibabaProvider, createLocalProvider } from "@hoist/providers";
import { describe, expect, it } from "vitest";
import { sourceInventory } from "./job-api-harness";
import { destinationOf, placementOf } from "./orchestrator";
import { jobTargetsOf } from "./store";

const source = { sourceId: "s-1", name: "web-1", inventory: sourceInventory() };
const settingsOf = (body: Record<string, unknown>): ReplicationJobSettings => {
  const r = checkCreateJob({ SourceId: "s-1", ...body }, new Date(), source, { jobId: "j-1", regionId: "cn-hangzhou" });
  expect(r.issues.map((i) => i.error.message)).toEqual([]);
  return (r.value as { settings: ReplicationJobSettings }).settings;
};

describe("job targets and placement", () => {
  it("offers existing instances only with a provider that migrates onto them", () => {
    expect(jobTargetsOf(createLocalProvider())).toEqual({ targetTypes: ["Image"], provider: "local" });
    const alibaba = createAlibabaProvider({ credentials: { accessKeyId: "LTAI5tTargets", accessKeySecret: "not-used", source: "test" }, regionId: "cn-hangzhou", endpointOverride: "http://127.0.0.1:9" });
    expect(jobTargetsOf(alibaba)).toEqual({ targetTypes: ["Image", "TargetInstance"], provider: "alibaba" });
    expect(jobTargetsOf(undefined)).toEqual({ targetTypes: ["Image"] });
  });

  it("places a TargetInstance job on its destination, and an image job on none", () => {
    const onto = settingsOf({ TargetType: "TargetInstance", InstanceId: "i-bp1abcd2efgh3ijk4lmn", NetMode: 2, VpcId: "vpc-1", VSwitchId: "vsw-1" });
    expect(destinationOf(onto)).toBe("i-bp1abcd2efgh3ijk4lmn");
    expect(placementOf(onto)).toEqual({ region: "cn-hangzhou", netMode: "vpc", vpcId: "vpc-1", vSwitchId: "vsw-1", destinationInstanceId: "i-bp1abcd2efgh3ijk4lmn" });
    const image = settingsOf({ InstanceType: "ecs.g6.large" });
    expect(destinationOf(image)).toBeNull();
    expect(placementOf(image)).toEqual({ region: "cn-hangzhou", netMode: "public", instanceType: "ecs.g6.large" });
    // A row stored before InstanceId existed.
    const { InstanceId: _, ...old } = image;
    expect(placementOf(old as ReplicationJobSettings)).not.toHaveProperty("destinationInstanceId");
  });
});

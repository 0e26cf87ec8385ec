import type { ReplicationJob } from "@hoist/protocol";
import { describe, expect, it } from "vitest";
import { untilFlag, verdict } from "./job-watch";
import { progressText } from "./job-view";

function job(over: Partial<ReplicationJob>): ReplicationJob {
  return {
    JobId: "j-1",
    Status: "Running",
    BusinessStatus: "Syncing",
    RunOnce: true,
    RunCount: 1,
    ErrorCode: null,
    ErrorMessage: null,
    ErrorFix: null,
    ValidTime: null,
    Progress: 0,
    Transfer: null,
    ...over,
  } as ReplicationJob;
}

const outcome = (j: ReplicationJob, until = untilFlag("Finished")): string => {
  const v = verdict(j, until);
  return v.done ? "done" : (v.error?.code ?? "wait");
};

describe("hoist jobs watch: when watching ends", () => {
  it("a one-time job: done at Finished, keeps watching while it runs or waits", () => {
    expect(outcome(job({ Status: "Finished", BusinessStatus: null }))).toBe("done");
    expect(outcome(job({ Status: "Running" }))).toBe("wait");
    expect(outcome(job({ Status: "Ready", RunCount: 0 }))).toBe("wait");
    expect(outcome(job({ Status: "Waiting", RunCount: 1 }))).toBe("wait");
  });

  it("a periodic job: done when Waiting after a run, not before its first", () => {
    expect(outcome(job({ RunOnce: false, Status: "Waiting", RunCount: 1 }))).toBe("done");
    expect(outcome(job({ RunOnce: false, Status: "Waiting", RunCount: 0 }))).toBe("wait");
    expect(outcome(job({ RunOnce: false, Status: "Running", RunCount: 2 }))).toBe("wait");
    // Waiting only counts for Finished; awaiting Running, a Waiting job is still on its way there.
    expect(outcome(job({ RunOnce: false, Status: "Waiting", RunCount: 1 }), untilFlag("Running"))).toBe("wait");
  });

  it("fails with the job's own code when it is InError, and with watch codes for the other dead ends", () => {
    const failed = verdict(job({ Status: "InError", ErrorCode: "Receiver.DiskFull", ErrorMessage: "no space", ErrorFix: "Grow the disk." }), "Finished");
    expect(failed.done).toBe(false);
    expect(!failed.done && failed.error).toMatchObject({ code: "Receiver.DiskFull", message: "no space", fix: "Grow the disk." });
    expect(outcome(job({ Status: "InError" }))).toBe("ReplicationJob.InError");
    expect(outcome(job({ Status: "Stopped" }))).toBe("Watch.JobStopped");
    expect(outcome(job({ Status: "Expired" }))).toBe("Watch.JobExpired");
    expect(outcome(job({ Status: "Deleting" }))).toBe("Watch.JobDeleted");
    expect(outcome(job({ Status: "Finished" }), untilFlag("Running"))).toBe("Watch.JobEnded");
    expect(outcome(job({ Status: "InError" }), untilFlag("InError"))).toBe("done");
  });

  it("--until takes only a job Status", () => {
    expect(() => untilFlag("finished")).toThrow(/--until must be a job Status/);
  });
});

describe("progress text", () => {
  it("shows the bar, bytes done of total, speed and time left", () => {
    const text = progressText(job({ Progress: 42, Transfer: { BytesDone: 4.2 * 2 ** 30, BytesTotal: 10 * 2 ** 30, Speed: 112 * 2 ** 20, TimeRemainingSeconds: 3725 } }));
    expect(text).toBe("[########------------]  42%  4.20 GiB of 10.00 GiB, 112.00 MiB/s, 1 h 02 min left");
    expect(progressText(job({ Progress: 100, Transfer: { BytesDone: 5, BytesTotal: 5, Speed: 0, TimeRemainingSeconds: null } }))).toBe("[####################] 100%  5 B of 5 B, 0 B/s, time left unknown");
  });
});

// The console talks to hoist server's API only, with the API key the person
// pasted (kept in sessionStorage: gone when the tab closes). Errors keep the
// API's code, message and fix so the page can show all three.
import type { ActivationCode, CreatedActivationCode, JobImage, ReplicationJob, SourceServer, SourceServerDetail } from "@hoist/protocol";

const KEY = "hoist.apiKey";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fix: string | undefined,
  ) {
    super(message);
  }
}

export type JobImageRow = JobImage & { JobId: string };

export interface ImageDetailBody extends JobImageRow {
  Detail: {
    conversion: { bootMode: string; steps: { name: string; ok: boolean; diff?: string; detail?: string; error?: string }[] } | null;
    consoleLog: string | null;
    disks: { key: string; virtualSizeBytes: number; format: string }[];
    source: { os: string; kernel: string | null; usedBytes: number; systemDiskBytes: number } | null;
    verification: { status: string; bootSeconds?: number; reachedMultiUser?: boolean; mountedAll?: boolean; verifiedAt?: string; reason?: string };
  } | null;
}

export interface Finding {
  severity: "Critical" | "Warning";
  code: string;
  message: string;
  fix: string;
}

export const apiKey = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (k: string) => sessionStorage.setItem(KEY, k),
  clear: () => sessionStorage.removeItem(KEY),
};

/** Called when the server says the key is wrong (the page goes back to sign-in). */
let onUnauthorized: () => void = () => {};
export function whenUnauthorized(fn: () => void): void {
  onUnauthorized = fn;
}

export async function request<T>(method: string, path: string, body?: unknown, key = apiKey.get()): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(0, "Console.ServerUnreachable", "the server cannot be reached", "Check that hoist server is running and this page's address is right, then try again.");
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    throw new ApiError(res.status, "Console.BadAnswer", `the server answered ${res.status} with something that is not JSON`, "Check that this page is served by hoist server.");
  }
  if (!res.ok) {
    const e = (parsed ?? {}) as { code?: string; message?: string; fix?: string };
    const err = new ApiError(res.status, e.code ?? `Http.${res.status}`, e.message ?? res.statusText, e.fix);
    if (res.status === 401 && key === apiKey.get()) onUnauthorized();
    throw err;
  }
  return parsed as T;
}

const enc = encodeURIComponent;

export const api = {
  sources: () => request<{ total: number; sources: SourceServer[] }>("GET", "/v1/sources?limit=1000"),
  source: (id: string) => request<SourceServerDetail>("GET", `/v1/sources/${enc(id)}`),
  deleteSource: (id: string) => request<{ sourceId: string; state: string }>("DELETE", `/v1/sources/${enc(id)}`),
  codes: () => request<{ codes: ActivationCode[] }>("GET", "/v1/activation-codes"),
  createCode: (body: { uses?: unknown; validityDays?: unknown; description?: unknown }) => request<CreatedActivationCode>("POST", "/v1/activation-codes", body),
  jobs: () => request<{ total: number; jobs: ReplicationJob[] }>("GET", "/v1/jobs?limit=1000"),
  job: (id: string) => request<ReplicationJob>("GET", `/v1/jobs/${enc(id)}`),
  createJob: (body: Record<string, unknown>) => request<ReplicationJob>("POST", "/v1/jobs", body),
  jobAction: (id: string, action: "start" | "stop" | "retry" | "cancel") => request<ReplicationJob>("POST", `/v1/jobs/${enc(id)}/${action}`),
  modifyJob: (id: string, body: Record<string, unknown>) => request<ReplicationJob>("POST", `/v1/jobs/${enc(id)}/modify`, body),
  deleteJob: (id: string) => request<{ JobId: string }>("DELETE", `/v1/jobs/${enc(id)}`),
  images: () => request<{ images: JobImageRow[] }>("GET", "/v1/images"),
  image: (name: string, region: string) => request<ImageDetailBody>("GET", `/v1/images/${enc(name)}?regionId=${enc(region)}`),
  checkImage: (name: string, region: string) => request<{ Findings: Finding[] }>("POST", `/v1/images/${enc(name)}/check?regionId=${enc(region)}`),
  deleteImage: (name: string, region: string) => request<{ Deleted: boolean }>("DELETE", `/v1/images/${enc(name)}?regionId=${enc(region)}`),
};

// Checks against a running receiver: both ports reachable, its certificate
// the one expected, and the two clocks close enough for tokens and logs to
// agree. The receiver's certificate is self-signed, so trust comes from the
// pinned fingerprint, not from a certificate authority.
import { createHash } from "node:crypto";
import { request } from "node:https";
import { connect } from "node:net";
import type { TLSSocket } from "node:tls";
import { CLOCK_SKEW_LIMIT_SECONDS, type CheckItem } from "./types";

/** Lowercase hex without colons, whichever way it was written. */
export function normalizeFingerprint(value: string): string {
  return value.replace(/[:\s]/g, "").toLowerCase();
}

function tcpReachable(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (error?: string) => {
      socket.destroy();
      resolve(error);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs / 1000} s`));
    socket.once("connect", () => done());
    socket.once("error", (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

export async function checkPort(id: string, host: string, port: number, timeoutMs: number): Promise<CheckItem> {
  const error = await tcpReachable(host, port, timeoutMs);
  if (!error) return { id, status: "OK", detail: `${host}:${port} accepts connections` };
  return {
    id,
    status: "FAIL",
    detail: `${host}:${port} cannot be reached (${error})`,
    fix: `Allow outbound TCP to ${host}:${port} here, and make sure the intermediate instance allows inbound 8080 and 8703 and its receiver is running.`,
  };
}

interface HealthProbe {
  fingerprint: string;
  receiverTime: number;
  localTime: number;
}

function probeHealth(host: string, port: number, timeoutMs: number): Promise<HealthProbe> {
  return new Promise((resolve, reject) => {
    const sent = Date.now();
    // Self-signed on purpose: the fingerprint below is what is trusted.
    const req = request({ host, port, path: "/v1/health", method: "GET", rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      const socket = res.socket as TLSSocket;
      const raw = socket.getPeerCertificate().raw;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const received = Date.now();
        let time: unknown;
        try {
          time = (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { time?: unknown }).time;
        } catch {
          time = undefined;
        }
        const receiverTime = typeof time === "string" ? Date.parse(time) : typeof time === "number" ? time : Number.NaN;
        if (Number.isNaN(receiverTime)) {
          reject(new Error(`GET /v1/health answered ${res.statusCode} without a time`));
          return;
        }
        resolve({ fingerprint: raw ? createHash("sha256").update(raw).digest("hex") : "", receiverTime, localTime: (sent + received) / 2 });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on("error", reject);
    req.end();
  });
}

/** The certificate and clock items, from one HTTPS request to the control port. */
export async function checkReceiverHealth(host: string, port: number, expectedFingerprint: string | undefined, timeoutMs: number): Promise<CheckItem[]> {
  let probe: HealthProbe;
  try {
    probe = await probeHealth(host, port, timeoutMs);
  } catch (e) {
    const fix = `Make sure hoist receiver runs on ${host} and its control port ${port} is reachable over HTTPS.`;
    const detail = `https://${host}:${port}/v1/health failed: ${(e as Error).message}`;
    return [
      { id: "receiver-certificate", status: "FAIL", detail, fix },
      { id: "clock", status: "FAIL", detail, fix },
    ];
  }
  const items: CheckItem[] = [];
  if (!expectedFingerprint) {
    items.push({
      id: "receiver-certificate",
      status: "WARN",
      detail: `certificate SHA-256 ${probe.fingerprint} was not compared with anything`,
      fix: "Pass --fingerprint with the value the receiver printed when it started, so a stranger cannot stand in for it.",
    });
  } else if (normalizeFingerprint(expectedFingerprint) === probe.fingerprint) {
    items.push({ id: "receiver-certificate", status: "OK", detail: "certificate matches the expected SHA-256 fingerprint" });
  } else {
    items.push({
      id: "receiver-certificate",
      status: "FAIL",
      detail: `certificate SHA-256 is ${probe.fingerprint}, not the expected ${normalizeFingerprint(expectedFingerprint)}`,
      fix: "Check --fingerprint against the receiver's receiver.json; if they differ, something else answers on that address.",
    });
  }
  const skew = (probe.localTime - probe.receiverTime) / 1000;
  const shown = `${Math.abs(skew).toFixed(1)} s ${skew >= 0 ? "ahead of" : "behind"} the receiver`;
  items.push(
    Math.abs(skew) > CLOCK_SKEW_LIMIT_SECONDS
      ? {
          id: "clock",
          status: "FAIL",
          detail: `this clock is ${shown} (limit ${CLOCK_SKEW_LIMIT_SECONDS} s)`,
          fix: "Synchronise the clock with NTP (timedatectl set-ntp true, or chronyc makestep), on this server and the intermediate instance.",
        }
      : { id: "clock", status: "OK", detail: `this clock is ${shown}` },
  );
  return items;
}

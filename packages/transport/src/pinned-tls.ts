// Every client connection to a receiver pins the certificate fingerprint and
// checks it before a single byte (least of all a token) is written.
import { timingSafeEqual } from "node:crypto";
import { connect, type TLSSocket } from "node:tls";
import { HoistError } from "@hoist/protocol";
import { normaliseFingerprint } from "./certificate";

export interface PinnedEndpoint {
  host: string;
  port: number;
  /** SHA-256 fingerprint of the receiver certificate (any case, colons allowed). */
  fingerprint: string;
  /** Stream buffer size of the TLS socket (Node's default is 16 KiB). */
  highWaterMark?: number;
}

export function fingerprintsEqual(a: string, b: string): boolean {
  const x = Buffer.from(normaliseFingerprint(a));
  const y = Buffer.from(normaliseFingerprint(b));
  return x.length === y.length && timingSafeEqual(x, y);
}

export function connectPinned(endpoint: PinnedEndpoint, timeoutMs = 20_000): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: endpoint.host, port: endpoint.port, rejectUnauthorized: false, servername: undefined, ...(endpoint.highWaterMark ? { highWaterMark: endpoint.highWaterMark } : {}) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new HoistError("Transport.ConnectTimeout", `no TLS connection to ${endpoint.host}:${endpoint.port} within ${timeoutMs} ms`, { retryable: true, fix: "Check that the receiver runs and the port is open." }));
    }, timeoutMs);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      const seen = socket.getPeerCertificate().fingerprint256 ?? "";
      if (!fingerprintsEqual(seen, endpoint.fingerprint)) {
        socket.destroy();
        reject(
          new HoistError("Transport.CertificateMismatch", `the receiver at ${endpoint.host}:${endpoint.port} presented a certificate that does not match the pinned fingerprint`, {
            fix: "Someone may be intercepting the connection, or the receiver was re-created: get its current fingerprint from the control plane.",
            details: { seen: normaliseFingerprint(seen) },
          }),
        );
        return;
      }
      socket.removeListener("error", onError);
      resolve(socket);
    });
    const onError = (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new HoistError("Transport.ConnectFailed", `cannot reach the receiver at ${endpoint.host}:${endpoint.port}: ${e.message}`, { retryable: true, fix: "Check that the receiver runs and the port is open.", cause: e }));
    };
    socket.once("error", onError);
  });
}

// The receiver's identity is a self-signed certificate; clients trust it by
// its SHA-256 fingerprint (handed to them out of band), not by any CA.
import { X509Certificate } from "node:crypto";
import { chmod, readFile } from "node:fs/promises";
import { join } from "node:path";
import { HoistError } from "@hoist/protocol";
import { run } from "@hoist/runtime";

/** Lowercase hex without colons, the one form fingerprints are compared in. */
export function normaliseFingerprint(value: string): string {
  return value.replace(/[:\s]/g, "").toLowerCase();
}

export function fingerprintOfCertificate(certPem: string | Buffer): string {
  return normaliseFingerprint(new X509Certificate(certPem).fingerprint256);
}

export interface CertificateFiles {
  certPath: string;
  keyPath: string;
}

/** Makes an ECDSA P-256 self-signed certificate in `dir` (cert.pem, key.pem 0600). */
export async function generateSelfSignedCertificate(dir: string, commonName: string): Promise<CertificateFiles> {
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  await run(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-days",
      "3650",
      "-subj",
      `/CN=${commonName.replace(/[/=]/g, "-")}`,
    ],
    { code: "Transport.CertificateFailed", env: { ...process.env, OPENSSL_CONF: "/dev/null" } },
  ).catch((e: unknown) => {
    throw new HoistError("Transport.CertificateFailed", `could not create the receiver certificate: ${e instanceof Error ? e.message : String(e)}`, {
      fix: "Install openssl and make sure the state directory is writable.",
      cause: e,
    });
  });
  await chmod(keyPath, 0o600);
  // Fail now, not on the first connection, if openssl wrote something unusable.
  fingerprintOfCertificate(await readFile(certPath));
  return { certPath, keyPath };
}

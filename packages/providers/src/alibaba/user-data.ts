// The intermediate instance's user data: a shell script that cloud-init runs
// on first boot. It writes the receiver's certificate, key and admin token
// (made by the provider, so it knows the fingerprint to pin before the
// instance exists), installs what the receiver needs, fetches the hoist
// bundle and starts `hoist receiver` as a service on the migration ports.
// The provider reads it back with DescribeUserData to find the receiver again.
import { HoistError } from "@hoist/protocol";

export const RECEIVER_STATE_DIR = "/var/lib/hoist/receiver";

export interface ReceiverBootstrap {
  certPem: string;
  keyPem: string;
  adminToken: string;
  controlPort: number;
  dataPort: number;
  /** Where the instance downloads hoist.mjs from. */
  bundleUrl: string;
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

export function renderUserData(b: ReceiverBootstrap): string {
  return [
    "#!/bin/sh",
    "# Hoist intermediate instance: start the receiver (ports for the agent: control and data).",
    "set -eu",
    `STATE=${RECEIVER_STATE_DIR}`,
    'install -d -m 0700 "$STATE"',
    "umask 077",
    `echo '${b64(b.certPem)}' | base64 -d > "$STATE/cert.pem"`,
    `echo '${b64(b.keyPem)}' | base64 -d > "$STATE/key.pem"`,
    `echo '${b64(b.adminToken)}' | base64 -d > "$STATE/admin.token"`,
    "export DEBIAN_FRONTEND=noninteractive",
    "apt-get update -qq && apt-get install -y -qq rsync qemu-utils nodejs parted dosfstools xfsprogs lvm2 grub-pc-bin grub-efi-amd64-bin curl",
    `curl -fsSL '${b.bundleUrl}' -o /usr/local/lib/hoist.mjs`,
    "cat > /etc/systemd/system/hoist-receiver.service <<'UNIT'",
    "[Unit]",
    "Description=Hoist receiver (intermediate instance)",
    "After=network-online.target",
    "[Service]",
    `ExecStart=/usr/bin/node /usr/local/lib/hoist.mjs receiver --state-dir ${RECEIVER_STATE_DIR} --control-port ${b.controlPort} --data-port ${b.dataPort}`,
    "Restart=always",
    "[Install]",
    "WantedBy=multi-user.target",
    "UNIT",
    "systemctl daemon-reload",
    "systemctl enable --now hoist-receiver.service",
    "",
  ].join("\n");
}

/** The facts the provider needs back from an instance's user data (never logged: it holds the admin token and key). */
export function parseUserData(text: string): Omit<ReceiverBootstrap, "bundleUrl"> & { bundleUrl: string } {
  const file = (name: string): string => {
    const m = new RegExp(`^echo '([A-Za-z0-9+/=]+)' \\| base64 -d > "\\$STATE/${name.replace(".", "\\.")}"$`, "m").exec(text);
    if (!m) throw new HoistError("IntermediateInstance.Broken", `the intermediate instance's user data has no ${name}`, { fix: "Run hoist migrate --cleardata to start over with a new intermediate instance." });
    return Buffer.from(m[1] ?? "", "base64").toString("utf8");
  };
  const ports = /--control-port (\d+) --data-port (\d+)/.exec(text);
  const url = /curl -fsSL '([^']+)'/.exec(text);
  if (!ports) throw new HoistError("IntermediateInstance.Broken", "the intermediate instance's user data names no receiver ports", { fix: "Run hoist migrate --cleardata." });
  return {
    certPem: file("cert.pem"),
    keyPem: file("key.pem"),
    adminToken: file("admin.token").trim(),
    controlPort: Number(ports[1]),
    dataPort: Number(ports[2]),
    bundleUrl: url?.[1] ?? "",
  };
}

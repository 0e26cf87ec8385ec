// The intermediate instance's user data: a shell script that cloud-init runs
// on first boot. It writes the receiver's certificate, key and admin token
// (made by the provider, so it knows the fingerprint to pin before the
// instance exists), installs what the receiver needs, fetches the hoist
// bundle and starts `hoist receiver` as a service on the migration ports.
// The provider reads it back with DescribeUserData to find the receiver again.
// On an existing destination instance the script also carries the instance's
// own user data (base64, in a marked comment line), so that it can be put back
// when the migration ends, even by a later run after hoist itself died.
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

/** ECS's limit on user data, in bytes before base64. */
export const USER_DATA_MAX_BYTES = 32 * 1024;

/** The comment line that holds a destination's own user data (as DescribeUserData returns it: base64). */
const ORIGINAL_MARKER = "# hoist-original-user-data: ";

/**
 * Hoist's script. `originalUserData` (base64, "" for none) is the destination instance's own user data,
 * kept in the script so it can be restored later; an intermediate instance of Hoist's own has none.
 */
export function renderUserData(b: ReceiverBootstrap, originalUserData?: string): string {
  return [
    "#!/bin/sh",
    "# Hoist intermediate instance: start the receiver (ports for the agent: control and data).",
    ...(originalUserData === undefined ? [] : [`${ORIGINAL_MARKER}${originalUserData}`]),
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

/** Whether user data (decoded) is Hoist's receiver script. */
export function isHoistUserData(text: string): boolean {
  return text.startsWith("#!/bin/sh\n# Hoist intermediate instance:") || text.includes("hoist-receiver.service");
}

/**
 * The instance's own user data (base64, "" for none) that Hoist's script keeps, or null when the text
 * is not Hoist's script (it is then the instance's own). A Hoist script without the line kept nothing: "".
 */
export function originalUserData(text: string): string | null {
  if (!isHoistUserData(text)) return null;
  const m = new RegExp(`^${ORIGINAL_MARKER}([A-Za-z0-9+/=]*)$`, "m").exec(text);
  return m?.[1] ?? "";
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

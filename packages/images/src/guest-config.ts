// Small files convert writes into the migrated system: DHCP on the new NIC
// for whichever network stack the guest uses, and the verification unit that
// reports on the serial port once the system is up.

export const IFUPDOWN_DHCP = `# Written at migration: DHCP on the first NIC of the new hypervisor.
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

allow-hotplug eth0
iface eth0 inet dhcp
`;

export const NETWORKD_DHCP = `# Written at migration: DHCP on any Ethernet NIC of the new hypervisor.
[Match]
Name=en* eth*

[Network]
DHCP=yes
`;

export const NETPLAN_DHCP = `# Written at migration: DHCP on any Ethernet NIC of the new hypervisor.
network:
  version: 2
  ethernets:
    hoist-any:
      match:
        name: "e*"
      dhcp4: true
`;

export const VERIFY_UNIT_NAME = "hoist-verify.service";
export const VERIFY_MARKER = "HOIST-VERIFY";

export const VERIFY_SCRIPT_PATH = "/usr/local/sbin/hoist-verify";

/**
 * Prints the mounted filesystems and failed units on one line to the serial port. Reads only.
 * Data disks are mounted with nofail, so multi-user does not wait for them: the report first
 * waits (at most 3 minutes) until no mount is still being mounted and no mount or device job
 * is still queued (a mount waits in the queue for its device, e.g. an LV not yet activated).
 */
export const VERIFY_SCRIPT = `#!/bin/sh
# Reports, once per boot, what a migration check needs to see on the serial console.
busy() {
  systemctl list-units --type=mount --state=activating --no-legend --plain 2>/dev/null
  systemctl list-jobs --no-legend 2>/dev/null | grep -E '[.](mount|device)[[:space:]]'
}
i=0
while [ $i -lt 180 ] && [ -n "$(busy)" ]; do
  sleep 1
  i=$((i + 1))
done
mounts=$(findmnt -rn -o TARGET | tr '\\n' ',')
failed=$(systemctl list-units --state=failed --no-legend --plain | cut -d' ' -f1 | tr '\\n' ',')
echo "${VERIFY_MARKER} mounts=$mounts failed=$failed end" > /dev/ttyS0
`;

/**
 * A oneshot unit that runs the report after multi-user, so a boot test can
 * tell that every fstab entry was mounted without logging in. It changes
 * nothing and can be removed with `systemctl disable hoist-verify.service`.
 */
export const VERIFY_UNIT = `[Unit]
Description=Report mounted filesystems on the serial console after migration
After=multi-user.target

[Service]
Type=oneshot
ExecStart=${VERIFY_SCRIPT_PATH}

[Install]
WantedBy=multi-user.target
`;

export const VIRTIO_MODULES = ["virtio_blk", "virtio_pci", "virtio_net", "virtio_scsi"];

/** Adds the virtio modules to /etc/initramfs-tools/modules, keeping what is there. */
export function addInitramfsModules(oldText: string): string {
  const present = new Set(oldText.split("\n").map((l) => l.trim().split(/\s+/)[0]));
  const missing = VIRTIO_MODULES.filter((m) => !present.has(m));
  if (missing.length === 0) return oldText;
  const base = oldText === "" || oldText.endsWith("\n") ? oldText : `${oldText}\n`;
  return `${base}# virtio drivers for the new hypervisor's disks and NIC\n${missing.join("\n")}\n`;
}

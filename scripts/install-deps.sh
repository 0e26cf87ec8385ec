#!/usr/bin/env bash
# Installs what Hoist and its tests use on a Debian 12 machine: the real tools
# (rsync, filesystems, GRUB, QEMU, OVMF, debootstrap) and the npm packages.
# Safe to run again; it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(rsync openssl qemu-system-x86 qemu-utils grub-pc-bin grub-efi-amd64-bin grub-common
  debootstrap xfsprogs ovmf acl attr dosfstools mtools cpio fdisk e2fsprogs lvm2 util-linux kmod libcap2-bin zstd postgresql
  chromium fonts-dejavu-core iproute2 nftables)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; fi
  echo "install-deps: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm ci` refuses this lock file because it lists only this platform's
  # optional binaries (biome, esbuild); `npm install` keeps the locked versions.
  npm install --no-audit --no-fund --loglevel=error
fi
npm run --silent build

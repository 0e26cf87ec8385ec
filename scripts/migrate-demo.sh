#!/usr/bin/env bash
# The main job on a fresh machine: build (or reuse) a real Debian 12 source
# server with debootstrap, then migrate it with `hoist migrate --source-root`
# on the embedded defaults — a local intermediate instance, the local image
# store — into an image that is booted under QEMU before the run says
# "Goto Hoist Finished!". Needs root. Usage: scripts/migrate-demo.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

workdir=${1:-/var/tmp/hoist-demo}
mkdir -p "$workdir"

# The source server: a debootstrapped Debian 12 with a kernel, cached outside
# the repository (keyed by its package list) and shared with the tests.
helper=$(mktemp --suffix=.mjs)
trap 'rm -f "$helper"' EXIT
npx --no-install esbuild test/helpers/debian-fixture.ts --bundle --platform=node --format=esm --log-level=warning --outfile="$helper"
source_root=$(node --input-type=module -e "const m = await import(process.argv[1]); console.log(await m.debianFixture());" "$helper")
echo "Source server: $source_root"

image="demo-debian12-$(date +%Y%m%d%H%M%S)"
cat > "$workdir/user_config.json" <<JSON
{
  "access_id": "",
  "secret_key": "",
  "region_id": "local",
  "image_name": "$image",
  "system_disk_size": 20,
  "platform": "Debian",
  "architecture": "x86_64",
  "bandwidth_limit": 0,
  "data_disks": []
}
JSON
rm -f "$workdir/client_data" "$workdir/.client_token"

apps/hoist/bin/hoist migrate --workdir "$workdir" --source-root "$source_root" --noenterkey
apps/hoist/bin/hoist image list

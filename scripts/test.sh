#!/usr/bin/env bash
# The whole test suite: lint, type-check, unit tests and the end-to-end tests
# against real rsync, loop devices, GRUB and QEMU. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm test

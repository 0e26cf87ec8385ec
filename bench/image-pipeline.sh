#!/usr/bin/env bash
# hoist migrate --no-verify vs the same by hand; hoist image verify vs a plain QEMU boot; see bench/README.md.
exec bash "$(dirname "${BASH_SOURCE[0]}")/lib/run-ts.sh" bench/image-pipeline.ts "$@"

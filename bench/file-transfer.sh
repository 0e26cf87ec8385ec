#!/usr/bin/env bash
# hoist migrate --copy-only vs rsync daemon vs tar|tar; see bench/README.md.
exec bash "$(dirname "${BASH_SOURCE[0]}")/lib/run-ts.sh" bench/file-transfer.ts "$@"

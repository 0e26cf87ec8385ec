#!/usr/bin/env bash
# hoist's block copy of one ext4 partition vs partclone.ext4 | partclone restore vs dd | zstd -1 | zstd -d | dd;
# half-used and full partitions; see bench/README.md.
exec bash "$(dirname "${BASH_SOURCE[0]}")/lib/run-ts.sh" bench/block-copy.ts "$@"

#!/usr/bin/env bash
# Runs one TypeScript benchmark entry. Node 20 cannot run .ts files, so the
# entry is bundled with the repository's esbuild into a temp folder first.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
entry=$1
shift
if [ "$(id -u)" != 0 ]; then
  echo "The benchmarks need root (loop devices, mounts, hoist migrate)." >&2
  exit 1
fi
tmp=$(mktemp -d /tmp/hoist-bench-js.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$repo/node_modules/.bin/esbuild" "$repo/$entry" --bundle --platform=node --format=esm --target=node20 \
  --log-level=warning --outfile="$tmp/bench.mjs" \
  --banner:js="import { createRequire as __benchRequire } from 'node:module'; const require = __benchRequire(import.meta.url);"
cd "$repo"
if [ ! -f apps/hoist/dist/hoist.mjs ]; then
  npm run build
fi
HOIST_REPO=$repo node "$tmp/bench.mjs" "$@"

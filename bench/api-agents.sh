#!/usr/bin/env bash
# hoist server under N simulated agents and a few API clients vs a bare node:http server; see bench/README.md.
# Needs no root (as root, the --postgres cluster runs as the postgres user).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hoist-bench-js.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$repo/node_modules/.bin/esbuild" "$repo/bench/api-agents.ts" --bundle --platform=node --format=esm --target=node20 \
  --log-level=warning --outfile="$tmp/bench.mjs" \
  --banner:js="import { createRequire as __benchRequire } from 'node:module'; const require = __benchRequire(import.meta.url);"
cd "$repo"
if [ ! -f apps/hoist/dist/hoist.mjs ]; then
  npm run build
fi
# Many sockets at once: 1,000 agents each open their own connection.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
HOIST_REPO=$repo node "$tmp/bench.mjs" "$@"

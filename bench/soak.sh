#!/usr/bin/env bash
# Reliability soak: SIGKILL of the agent and of the receiver and link cuts at
# random points between two network-namespace test hosts, each trial rerun to
# the end and its target compared with the source. Prints a table of trials,
# faults injected, exact results, error codes and bytes resent (what crossed
# the link beyond one copy of the tree, protocol overhead included).
# Usage (as root): bench/soak.sh [MINUTES=20] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then echo "soak: needs root (network namespaces)" >&2; exit 1; fi
[ -f apps/hoist/dist/hoist.mjs ] || npm run --silent build
out=node_modules/.cache/hoist-soak
mkdir -p "$out"
# esbuild stays outside the bundle: the soak bundles the agent runner with it at start.
npx esbuild bench/soak.ts --bundle --platform=node --format=esm --target=node20 --external:esbuild \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" \
  --outfile="$out/soak.mjs" --log-level=error
HOIST_ROOT="$(pwd)" exec node "$out/soak.mjs" "$@"

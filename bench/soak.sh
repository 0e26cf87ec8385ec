#!/usr/bin/env bash
# Reliability soak: SIGKILL of the agent and of the receiver and link cuts at
# random points between two network-namespace test hosts, each trial rerun to
# the end and its target compared with the source. Prints a table of trials,
# faults injected, exact results, error codes and bytes resent (what crossed
# the link beyond one copy of the tree, protocol overhead included).
# With --server-kills N it then runs the control plane's fault test with N
# SIGKILLs of `hoist server` (the suite runs a few) on the same seed.
# Usage (as root): bench/soak.sh [MINUTES=20] [SEED] [--server-kills N]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then echo "soak: needs root (network namespaces)" >&2; exit 1; fi
server_kills=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --server-kills)
      server_kills=${2:?--server-kills takes a number}
      shift 2
      ;;
    *)
      args+=("$1")
      shift
      ;;
  esac
done
[ -f apps/hoist/dist/hoist.mjs ] || npm run --silent build
out=node_modules/.cache/hoist-soak
mkdir -p "$out"
# esbuild stays outside the bundle: the soak bundles the agent runner with it at start.
npx esbuild bench/soak.ts --bundle --platform=node --format=esm --target=node20 --external:esbuild \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" \
  --outfile="$out/soak.mjs" --log-level=error
HOIST_ROOT="$(pwd)" node "$out/soak.mjs" "${args[@]}"
if [ "$server_kills" -gt 0 ]; then
  HOIST_SERVER_KILLS=$server_kills HOIST_FAULT_SEED=${args[1]:-$((RANDOM * 32768 + RANDOM))} \
    npx vitest run test/e2e/faults-server.test.ts
fi

#!/usr/bin/env bash
# The whole test suite: lint, type-check, unit tests and the end-to-end tests
# against real rsync, loop devices, GRUB and QEMU. Needs root.
#   scripts/test.sh           everything (20–25 minutes on 2 cores without KVM)
#   scripts/test.sh --quick   lint, type-check and unit tests (2–3 minutes)
# Prints how long each part took and the total at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
case "${1:-}" in
  "") ;;
  --quick) quick=1 ;;
  -h | --help)
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "test.sh: unknown argument '$1' (try --quick or --help)" >&2
    exit 2
    ;;
esac

started=$(date +%s)
times=()
step() {
  local name=$1
  shift
  local t0 rc=0
  t0=$(date +%s)
  "$@" || rc=$?
  times+=("$(printf '%-12s %4d s%s' "$name" $(($(date +%s) - t0)) "$([ "$rc" -eq 0 ] || echo " (failed)")")")
  return "$rc"
}
report() {
  local rc=$?
  echo
  for t in "${times[@]}"; do echo "test.sh: $t"; done
  local total=$(($(date +%s) - started))
  echo "test.sh: total        $((total / 60)) min $((total % 60)) s ($([ "$rc" -eq 0 ] && echo passed || echo FAILED))"
}
trap report EXIT

step install bash scripts/install-deps.sh
step lint npm run --silent lint
step typecheck npm run --silent typecheck
step unit npx vitest run --project unit
if [ "$quick" -eq 0 ]; then
  step e2e node scripts/e2e-lanes.mjs
fi

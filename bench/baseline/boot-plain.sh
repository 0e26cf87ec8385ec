#!/usr/bin/env bash
# The peer of `hoist image verify` in the image-pipeline benchmark: a plain
# QEMU boot of a disk image with the same memory, CPUs, accelerator, disk and
# NIC settings, watched on the serial console until systemd reaches
# multi-user (or a login prompt appears). QEMU is always stopped.
#
# usage: boot-plain.sh DISK.qcow2 CONSOLE_LOG [TIMEOUT_SECONDS]
# Prints "@reached SECONDS" on success; exits 1 on timeout.
set -euo pipefail
disk=${1:?disk image}
log=${2:?console log}
timeout=${3:-900}
accel=tcg
if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -Eqw 'vmx|svm' /proc/cpuinfo; then accel=kvm; fi
rm -f "$log"
start=$EPOCHREALTIME
elapsed() { awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
# snapshot=on: the image itself never changes, as in hoist's own boot check.
qemu-system-x86_64 -nodefaults -m 1024 -smp 2 -nographic -monitor none -serial "file:$log" -accel "$accel" \
  -drive "file=$disk,if=virtio,format=qcow2,snapshot=on" \
  -netdev user,id=net0 -device virtio-net-pci,netdev=net0 -vga none &
qemu=$!
trap 'kill "$qemu" 2>/dev/null; wait "$qemu" 2>/dev/null || true' EXIT
while :; do
  if [ -f "$log" ] && grep -Eq 'Reached target .*[Mm]ulti-[Uu]ser|login: *$' "$log"; then
    echo "@reached $(elapsed)"
    exit 0
  fi
  if ! kill -0 "$qemu" 2>/dev/null; then
    echo "QEMU exited before multi-user; see $log" >&2
    exit 1
  fi
  if awk -v e="$(elapsed)" -v t="$timeout" 'BEGIN { exit !(e > t) }'; then
    echo "no multi-user after $timeout s; see $log" >&2
    exit 1
  fi
  sleep 0.2
done
